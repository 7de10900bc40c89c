/// The ACPI tables of the PC machine, built as bytes for a place in the BIOS area: RSDP (ACPI
/// 2.0, pointing at both the RSDT and the XSDT), FADT (revision 3) with the PM timer and the PM1
/// blocks, FACS, a minimal DSDT (the sleep-state packages \_S3 and \_S5), the MADT (every
/// LAPIC, the IOAPIC, the interrupt source overrides of the PC's legacy IRQs) and, for a machine
/// with a VT-d unit, the DMAR. Every table's checksum makes its bytes add up to 0.
public struct ACPITables: Sendable {
    /// Where the RSDP goes: the BIOS area a kernel searches (0xE0000–0xFFFFF, 16-byte aligned).
    public static let base: UInt64 = 0xE_0000
    // The ports of the PM blocks and the SCI the FADT describes are QEMU's PIIX4 values.
    /// Port of the PM1a event block: PM1 status, then PM1 enable at +2 (4 ports).
    public static let pm1aEventPort: UInt16 = 0x600
    /// Port of the PM1a control block (2 ports), whose SLP_TYP and SLP_EN fields enter a sleep state.
    public static let pm1aControlPort: UInt16 = 0x604
    /// Port of the 32-bit ACPI PM timer (4 ports).
    public static let pmTimerPort: UInt16 = 0x608
    /// The SCI's interrupt: ISA IRQ 9, on GSI 9, level-triggered and active high in the MADT.
    public static let sciInterrupt: UInt16 = 9
    /// SLP_TYP value of S3 (suspend to RAM) in the DSDT's \_S3 package (QEMU's).
    public static let s3SleepType: UInt8 = 1
    /// SLP_TYP value of S5 (soft off) in the DSDT's \_S5 package (QEMU's).
    public static let s5SleepType: UInt8 = 0

    /// What the tables describe.
    public struct Machine: Sendable {
        /// The local APIC ID of each processor, in MADT order; a processor's ACPI UID is its
        /// index. IDs below 0xFF with UIDs up to 0xFF get Local APIC entries, the rest x2APIC ones.
        public var apicIDs: [UInt32]
        /// The IOAPIC's ID in the MADT (default 0).
        public var ioapicID: UInt8 = 0
        /// Guest-physical base of the IOAPIC's registers (default 0xFEC0_0000); its GSI base is 0.
        public var ioapicAddress: UInt32 = 0xFEC0_0000
        /// Guest-physical base of the local APICs, in the MADT's header (default 0xFEE0_0000).
        public var lapicAddress: UInt32 = 0xFEE0_0000
        /// Whether there are 8259s beside the IOAPIC (the MADT's PCAT_COMPAT flag); a split
        /// irqchip has none.
        public var has8259s = true
        /// The VT-d unit a DMAR table describes; nil: no DMAR.
        public var remappingUnit: RemappingUnit?
        /// A machine with these processors and the default IOAPIC and LAPIC addresses.
        public init(apicIDs: [UInt32]) { self.apicIDs = apicIDs }
    }

    /// An Intel VT-d remapping unit as the DMAR table describes it: one DRHD covering every PCI
    /// device of segment 0 (INCLUDE_PCI_ALL) and, with interrupt remapping, the IOAPIC in its
    /// device scope (on the pseudo bus 0xFF, as QEMU's Q35 has it).
    public struct RemappingUnit: Sendable, Equatable {
        /// Guest-physical base of its registers.
        public var registerBase: UInt64
        /// DMA addresses it takes, less one: the DMAR's host address width (47: 48 bits).
        public var hostAddressWidth: UInt8 = 47
        /// It remaps interrupts (the DMAR's INTR_REMAP flag).
        public var interruptRemapping: Bool
        /// The guest should not use x2APIC mode (X2APIC_OPT_OUT): set when the unit has no
        /// x2APIC-mode remapping.
        public var x2APICOptOut: Bool
        /// A unit at `registerBase` with these remapping features.
        public init(registerBase: UInt64, interruptRemapping: Bool, x2APICOptOut: Bool) {
            self.registerBase = registerBase
            self.interruptRemapping = interruptRemapping
            self.x2APICOptOut = x2APICOptOut
        }
    }

    /// All tables, from `base` on.
    public let bytes: [UInt8]
    /// Guest-physical addresses of each table, by signature ("RSD PTR " for the RSDP).
    public let addresses: [String: UInt64]

    /// Guest-physical address of the RSDP (always `base`), which a kernel is given or finds by
    /// scanning the BIOS area.
    public var rsdpAddress: UInt64 { Self.base }

    /// Lays out and checksums every table for `machine`.
    public init(_ machine: Machine) {
        var image = TableImage(base: Self.base)
        let rsdp = image.reserve(36, alignment: 16)
        let facs = image.append(Self.facs(), alignment: 64)
        let dsdt = image.append(Self.dsdt())
        let fadt = image.append(Self.fadt(facs: facs, dsdt: dsdt))
        let madt = image.append(Self.madt(machine))
        let dmar = machine.remappingUnit.map { image.append(Self.dmar($0, ioapicID: machine.ioapicID)) }
        let pointers = [fadt, madt] + (dmar.map { [$0] } ?? [])
        var rsdtTable = Self.tableHeader("RSDT", revision: 1, bodySize: 4 * pointers.count)
        var xsdtTable = Self.tableHeader("XSDT", revision: 1, bodySize: 8 * pointers.count)
        for pointer in pointers {
            rsdtTable.append(le: pointer, 4)
            xsdtTable.append(le: pointer, 8)
        }
        let rsdt = image.append(Self.finishTable(rsdtTable))
        let xsdt = image.append(Self.finishTable(xsdtTable))
        image.store(Self.rsdp(rsdt: rsdt, xsdt: xsdt), at: rsdp)
        bytes = image.bytes
        var addresses = ["RSD PTR ": rsdp, "FACS": facs, "DSDT": dsdt, "FACP": fadt, "APIC": madt, "RSDT": rsdt, "XSDT": xsdt]
        addresses["DMAR"] = dmar
        self.addresses = addresses
    }

    /// The boot-plan write that puts the tables in RAM.
    public var write: BootPlan.Write { .bytes(at: Self.base, bytes) }

    // MARK: Tables

    static func rsdp(rsdt: UInt64, xsdt: UInt64) -> [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(36)
        b.append(text: "RSD PTR ")
        b.append(0)
        b += oemID
        b.append(2)
        b.append(le: rsdt, 4)
        b.append(le: 36, 4)
        b.append(le: xsdt, 8)
        b.append(zeros: 4)
        b.setChecksum(at: 8, over: 0..<20)
        b.setChecksum(at: 32, over: 0..<36)
        return b
    }

    static func facs() -> [UInt8] {
        // Signature, length 64, hardware signature, waking vector, global lock, flags,
        // X waking vector, version 2, reserved.
        var b = [UInt8]()
        b.reserveCapacity(64)
        b.append(text: "FACS")
        b.append(le: 64, 4)
        b.append(zeros: 16 + 8)
        b.append(2)
        b.append(zeros: 31)
        return b
    }

    /// The DSDT: \_S3 and \_S5 as `Name(_Sx_, Package(4) {type, type, 0, 0})`.
    static func dsdt() -> [UInt8] {
        var b = tableHeader("DSDT", revision: 2, bodySize: 28)
        for (name, type) in [("_S3_", s3SleepType), ("_S5_", s5SleepType)] {
            // NameOp, the name, PackageOp, PkgLength (8: itself, the count, four elements), NumElements 4,
            // BytePrefix type twice, ZeroOp twice.
            b.append(0x08)
            b.append(text: name)
            b += [0x12, 0x08, 0x04, 0x0A, type, 0x0A, type, 0x00, 0x00]
        }
        return finishTable(b)
    }

    static func fadt(facs: UInt64, dsdt: UInt64) -> [UInt8] {
        var b = tableHeader("FACP", revision: 3, bodySize: 208)
        b.append(le: facs, 4)
        b.append(le: dsdt, 4)
        b += [0, 0]  // reserved (INT_MODEL in ACPI 1.0), preferred PM profile: unspecified
        b.append(le: UInt64(sciInterrupt), 2)
        b.append(le: 0, 4)  // SMI_CMD 0: no SMM, ACPI is always enabled
        b += [0, 0, 0, 0]  // ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
        b.append(le: UInt64(pm1aEventPort), 4)
        b.append(le: 0, 4)
        b.append(le: UInt64(pm1aControlPort), 4)
        b.append(le: 0, 4)
        b.append(le: 0, 4)  // PM2_CNT
        b.append(le: UInt64(pmTimerPort), 4)
        b.append(le: 0, 8)  // GPE0, GPE1
        b += [4, 2, 0, 4, 0, 0, 0, 0]  // PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN, GPE lengths, GPE1_BASE, CST_CNT
        b.append(le: 0x0FFF, 2)  // C2 and C3 latencies: not supported
        b.append(le: 0x0FFF, 2)
        b.append(le: 0, 4)  // FLUSH_SIZE, FLUSH_STRIDE
        b.append(zeros: 5)  // DUTY_OFFSET, DUTY_WIDTH, DAY_ALRM, MON_ALRM, CENTURY
        b.append(le: 0, 2)  // IAPC_BOOT_ARCH
        b.append(0)
        // Flags: WBINVD (0), PROC_C1 (2), SLP_BUTTON (5: no sleep button), TMR_VAL_EXT (8: 32-bit timer).
        b.append(le: 1 << 0 | 1 << 2 | 1 << 5 | 1 << 8, 4)
        b.appendGAS(space: 0, bits: 0, access: 0, address: 0)  // RESET_REG: none
        b += [0, 0, 0, 0]  // RESET_VALUE, reserved
        b.append(le: facs, 8)
        b.append(le: dsdt, 8)
        b.appendGAS(space: 1, bits: 32, access: 3, address: UInt64(pm1aEventPort))
        b.appendGAS(space: 0, bits: 0, access: 0, address: 0)
        b.appendGAS(space: 1, bits: 16, access: 2, address: UInt64(pm1aControlPort))
        b.appendGAS(space: 0, bits: 0, access: 0, address: 0)
        b.appendGAS(space: 0, bits: 0, access: 0, address: 0)  // PM2_CNT
        b.appendGAS(space: 1, bits: 32, access: 3, address: UInt64(pmTimerPort))
        b.appendGAS(space: 0, bits: 0, access: 0, address: 0)  // GPE0
        b.appendGAS(space: 0, bits: 0, access: 0, address: 0)  // GPE1
        return finishTable(b)
    }

    static func madt(_ machine: Machine) -> [UInt8] {
        var b = tableHeader("APIC", revision: 3, bodySize: 8 + 16 * machine.apicIDs.count + 12 + 20)
        b.append(le: UInt64(machine.lapicAddress), 4)
        b.append(le: machine.has8259s ? 1 : 0, 4)  // PCAT_COMPAT: there are 8259s too
        for (uid, id) in machine.apicIDs.enumerated() {
            // The 8-bit entry holds IDs below 0xFF and UIDs up to 0xFF; the rest need x2APIC entries.
            if id < 0xFF && uid <= 0xFF {
                b += [0, 8, UInt8(truncatingIfNeeded: uid), UInt8(id)]  // Local APIC, enabled
                b.append(le: 1, 4)
            } else {
                b += [9, 16, 0, 0]  // Local x2APIC, enabled
                b.append(le: UInt64(id), 4)
                b.append(le: 1, 4)
                b.append(le: UInt64(uid), 4)
            }
        }
        b += [1, 12, machine.ioapicID, 0]
        b.append(le: UInt64(machine.ioapicAddress), 4)
        b.append(le: 0, 4)
        // ISA IRQ 0 (the PIT) arrives on GSI 2; the SCI is level-triggered, active high.
        b += [2, 10, 0, 0]
        b.append(le: 2, 4)
        b.append(le: 0, 2)
        b += [2, 10, 0, UInt8(sciInterrupt)]
        b.append(le: UInt64(sciInterrupt), 4)
        b.append(le: 0x000D, 2)
        return finishTable(b)
    }

    /// The DMAR: host address width, flags, then one DRHD (type 0) for segment 0 with
    /// INCLUDE_PCI_ALL, and the IOAPIC's device scope (type 3) when interrupts are remapped.
    static func dmar(_ unit: RemappingUnit, ioapicID: UInt8) -> [UInt8] {
        let flags: UInt8 = (unit.interruptRemapping ? 1 : 0) | (unit.interruptRemapping && unit.x2APICOptOut ? 2 : 0)
        var b = tableHeader("DMAR", revision: 1, bodySize: 36)
        b += [unit.hostAddressWidth, flags]
        b.append(zeros: 10)
        // Device scope: type, length 8, reserved, enumeration ID, start bus, path (device 0, function 0).
        let scope: [UInt8] = unit.interruptRemapping ? [3, 8, 0, 0, ioapicID, 0xFF, 0, 0] : []
        b.append(le: 0, 2)
        b.append(le: UInt64(16 + scope.count), 2)
        b += [1, 0]
        b.append(le: 0, 2)
        b.append(le: unit.registerBase, 8)
        b += scope
        return finishTable(b)
    }

    // MARK: Encoding

    static let oemID = Array("SWVMM ".utf8)
    static let oemTableID = Array("SWIFTVMM".utf8)
    static let headerSize = 36

    /// The 36-byte header of a table whose body is appended next (`bodySize` is room reserved
    /// for it); `finishTable` sets the length and checksum.
    static func tableHeader(_ signature: String, revision: UInt8, bodySize: Int) -> [UInt8] {
        var b = [UInt8]()
        b.reserveCapacity(headerSize + bodySize)
        b.append(text: signature)
        b.append(le: 0, 4)  // length, set by finishTable
        b += [revision, 0]
        b += oemID
        b += oemTableID
        b.append(le: 1, 4)
        b.append(text: "SVMM")
        b.append(le: 1, 4)
        return b
    }

    /// The table with its length and checksum set.
    static func finishTable(_ table: consuming [UInt8]) -> [UInt8] {
        var b = table
        for i in 0..<4 { b[4 + i] = UInt8(truncatingIfNeeded: b.count >> (8 * i)) }
        b.setChecksum(at: 9, over: 0..<b.count)
        return b
    }
}

extension Array where Element == UInt8 {
    /// Appends a Generic Address Structure.
    fileprivate mutating func appendGAS(space: UInt8, bits: UInt8, access: UInt8, address: UInt64) {
        self += [space, bits, 0, access]
        append(le: address, 8)
    }
}

/// Tables laid out one after another from a base address.
private struct TableImage {
    let base: UInt64
    var bytes: [UInt8] = []

    mutating func reserve(_ count: Int, alignment: Int = 8) -> UInt64 {
        let start = (bytes.count + alignment - 1) / alignment * alignment
        bytes.append(zeros: start + count - bytes.count)
        return base + UInt64(start)
    }

    mutating func append(_ table: [UInt8], alignment: Int = 8) -> UInt64 {
        let address = reserve(table.count, alignment: alignment)
        store(table, at: address)
        return address
    }

    mutating func store(_ data: [UInt8], at address: UInt64) {
        let offset = Int(address - base)
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
    }
}
