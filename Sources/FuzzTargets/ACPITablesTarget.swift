import Platform

/// A reader of ACPI tables that trusts nothing: every address inside the image, every length
/// and checksum checked.
private struct TableImage {
    let bytes: [UInt8]
    let base: UInt64

    /// The `count` bytes at `at`, which must all lie inside the image.
    func slice(_ at: UInt64, _ count: Int) throws(FuzzFailure) -> ArraySlice<UInt8> {
        guard count >= 0, at >= base, at - base <= UInt64(bytes.count), UInt64(count) <= UInt64(bytes.count) - (at - base) else {
            throw FuzzFailure("\(count) bytes at \(at) are not all inside the image")
        }
        let start = Int(at - base)
        return bytes[start..<(start + count)]
    }
    func u8(_ at: UInt64) throws(FuzzFailure) -> UInt8 {
        try slice(at, 1).first!
    }
    func le(_ at: UInt64, _ count: Int) throws(FuzzFailure) -> UInt64 {
        var value: UInt64 = 0
        for (i, byte) in try slice(at, count).enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return value
    }
    func sum(_ at: UInt64, _ count: Int) throws(FuzzFailure) -> UInt8 {
        try slice(at, count).reduce(0, &+)
    }
    func text(_ at: UInt64, _ count: Int) throws(FuzzFailure) -> String {
        String(decoding: try slice(at, count), as: UTF8.self)
    }

    /// The table at `at`, which must be `expected`, lie inside the image and sum to zero.
    func table(_ at: UInt64, _ expected: String) throws(FuzzFailure) -> (address: UInt64, length: Int) {
        let length = Int(try le(at &+ 4, 4))
        guard length >= 36, (try? slice(at, length)) != nil else {
            throw FuzzFailure("\(expected) length \(length) runs out of the image")
        }
        guard try text(at, 4) == expected else { throw FuzzFailure("expected \(expected) at \(at), found \(try text(at, 4))") }
        guard try sum(at, length) == 0 else { throw FuzzFailure("\(expected) checksum is wrong") }
        return (at, length)
    }
}

extension FuzzTarget {
    /// The pc machine's ACPI tables for APIC IDs, an IOAPIC and addresses the input chooses,
    /// read back: the RSDP's checksums and pointers; each table the RSDT and XSDT list (both
    /// lists equal); the FADT's FACS and DSDT pointers (and their 64-bit copies); the MADT naming
    /// every processor once, in order, with unique UIDs, and the IOAPIC as given.
    static func acpiTables(_ bytes: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        // Mostly a few processors; one input in eight has up to 512 (past the 8-bit UIDs).
        let shape = input.u16()
        let count = 1 + Int(shape & 7 == 0 ? (shape >> 3) % 512 : (shape >> 3) % 16)
        let ids = (0..<count).map { index -> UInt32 in
            switch input.u8() % 4 {
            case 0: UInt32(index)
            case 1: UInt32(input.u8())
            default: input.u32()
            }
        }
        var machine = ACPITables.Machine(apicIDs: ids)
        machine.ioapicID = input.u8()
        machine.ioapicAddress = input.u32()
        machine.lapicAddress = input.u32()
        let flags = input.u8()
        machine.has8259s = flags & 1 != 0
        if flags & 2 != 0 {
            machine.remappingUnit = ACPITables.RemappingUnit(registerBase: input.u64(), interruptRemapping: flags & 4 != 0,
                                                             x2APICOptOut: flags & 8 != 0)
        }
        let tables = ACPITables(machine)
        let image = TableImage(bytes: tables.bytes, base: ACPITables.base)

        let rsdp = tables.rsdpAddress
        guard try image.text(rsdp, 8) == "RSD PTR " else { throw FuzzFailure("no RSDP signature") }
        guard try image.sum(rsdp, 20) == 0, try image.le(rsdp + 20, 4) == 36, try image.sum(rsdp, 36) == 0 else {
            throw FuzzFailure("RSDP checksums or length")
        }
        let rsdt = try image.table(try image.le(rsdp + 16, 4), "RSDT"), xsdt = try image.table(try image.le(rsdp + 24, 8), "XSDT")
        var fromRSDT: [UInt64] = [], fromXSDT: [UInt64] = []
        for i in 0..<(rsdt.length - 36) / 4 { fromRSDT.append(try image.le(rsdt.address + 36 + 4 * UInt64(i), 4)) }
        for i in 0..<(xsdt.length - 36) / 8 { fromXSDT.append(try image.le(xsdt.address + 36 + 8 * UInt64(i), 8)) }
        guard fromRSDT == fromXSDT else { throw FuzzFailure("the RSDT and XSDT list different tables") }
        var tablesBySignature: [String: (address: UInt64, length: Int)] = [:]
        for address in fromRSDT {
            let signature = try image.text(address, 4)
            tablesBySignature[signature] = try image.table(address, signature)
        }
        let expected = machine.remappingUnit == nil ? ["APIC", "FACP"] : ["APIC", "DMAR", "FACP"]
        guard tablesBySignature.keys.sorted() == expected, fromRSDT.count == expected.count else {
            throw FuzzFailure("the root tables are \(tablesBySignature.keys.sorted())")
        }
        if let unit = machine.remappingUnit, let dmar = tablesBySignature["DMAR"] {
            try checkDMAR(image, dmar, unit, ioapicID: machine.ioapicID)
        }

        let fadt = tablesBySignature["FACP"]!.address
        let facs = try image.le(fadt + 36, 4), dsdt = try image.le(fadt + 40, 4)
        guard try image.text(facs, 4) == "FACS", try image.le(facs + 4, 4) >= 64 else { throw FuzzFailure("the FADT's FACS") }
        _ = try image.table(dsdt, "DSDT")
        let xFACS = try image.le(fadt + 132, 8)
        guard xFACS == facs || xFACS == 0, try image.le(fadt + 140, 8) == dsdt else { throw FuzzFailure("the FADT's 64-bit pointers differ") }

        let madt = tablesBySignature["APIC"]!
        guard try image.le(madt.address + 36, 4) == UInt64(machine.lapicAddress) else { throw FuzzFailure("MADT local APIC address") }
        guard try image.le(madt.address + 40, 4) == (machine.has8259s ? 1 : 0) else { throw FuzzFailure("MADT PCAT_COMPAT") }
        var processors: [UInt32] = [], uids = Set<UInt32>(), ioapics = 0
        var at = madt.address + 44
        let end = madt.address + UInt64(madt.length)
        while at < end {
            let type = try image.u8(at), length = UInt64(try image.u8(at + 1))
            guard length >= 2, at + length <= end else { throw FuzzFailure("MADT entry of length \(length) runs out") }
            var uid: UInt32?
            switch (type, length) {
            case (0, 8):
                processors.append(UInt32(try image.u8(at + 3)))
                uid = UInt32(try image.u8(at + 2))
            case (9, 16):
                processors.append(UInt32(try image.le(at + 4, 4)))
                uid = UInt32(try image.le(at + 12, 4))
            case (1, 12):
                guard try image.u8(at + 2) == machine.ioapicID, try image.le(at + 4, 4) == UInt64(machine.ioapicAddress) else {
                    throw FuzzFailure("IOAPIC entry differs from the machine's")
                }
                ioapics += 1
            case (2, 10): break
            default: throw FuzzFailure("MADT entry type \(type) of length \(length)")
            }
            if let uid, !uids.insert(uid).inserted { throw FuzzFailure("processor UID \(uid) twice") }
            at += length
        }
        guard processors == ids else { throw FuzzFailure("MADT processors \(processors.prefix(8)) differ from \(ids.prefix(8))") }
        guard ioapics == 1 else { throw FuzzFailure("\(ioapics) IOAPIC entries") }
    }

    /// The DMAR: its flags, one DRHD for segment 0 with INCLUDE_PCI_ALL at the unit's base, and
    /// the IOAPIC's scope exactly when interrupts are remapped; every structure inside the table.
    private static func checkDMAR(_ image: TableImage, _ dmar: (address: UInt64, length: Int), _ unit: ACPITables.RemappingUnit,
                                  ioapicID: UInt8) throws(FuzzFailure) {
        let flags = try image.u8(dmar.address + 37)
        let wanted: UInt8 = (unit.interruptRemapping ? 1 : 0) | (unit.interruptRemapping && unit.x2APICOptOut ? 2 : 0)
        guard try image.u8(dmar.address + 36) == unit.hostAddressWidth, flags == wanted else { throw FuzzFailure("DMAR width or flags \(flags)") }
        let drhd = dmar.address + 48, end = dmar.address + UInt64(dmar.length)
        let length = try image.le(drhd + 2, 2)
        guard try image.le(drhd, 2) == 0, length >= 16, drhd + length == end else { throw FuzzFailure("DMAR's DRHD of length \(length)") }
        guard try image.u8(drhd + 4) == 1, try image.le(drhd + 6, 2) == 0, try image.le(drhd + 8, 8) == unit.registerBase else {
            throw FuzzFailure("DRHD flags, segment or base")
        }
        let scopes = length == 24 ? 1 : length == 16 ? 0 : -1
        guard scopes == (unit.interruptRemapping ? 1 : 0) else { throw FuzzFailure("DRHD with \(length) bytes") }
        if scopes == 1 {
            let type = try image.u8(drhd + 16), scopeLength = try image.u8(drhd + 17), id = try image.u8(drhd + 20)
            guard type == 3, scopeLength == 8, id == ioapicID else { throw FuzzFailure("the IOAPIC's device scope") }
        }
    }
}
