import DeviceTree
import Platform

extension FuzzInput {
    /// A 64-bit value biased towards the edges and small numbers, where layouts go wrong.
    mutating func layoutField() -> UInt64 {
        switch u8() % 4 {
        case 0: UInt64(u8()) << 20
        case 1: u64()
        case 2: UInt64.max - UInt64(u8())
        default: UInt64(u32())
        }
    }
}

extension FuzzTarget {
    /// The machine's device tree for a layout, reservations and command line the input chooses,
    /// read back through libfdt: a layout the builder accepts comes back exactly (memory, high
    /// memory, every CPU, the command line, the reservations, the PCI host and the console's
    /// path); one it refuses is refused with an error, never a trap.
    static func deviceTree(_ bytes: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        var layout = MachineLayout()
        let changes = input.u16()
        if changes & 1 != 0 { layout.ramSize = input.layoutField() }
        if changes & 2 != 0 { layout.highRAMSize = input.layoutField() }
        if changes & 4 != 0 {
            let count = input.u16()
            // One in eight up to 299, past any 8-bit limit and far past a machine's 16 vCPUs. (Up
            // to 1023 had the fuzzer spend most of its time writing CPU nodes: the corpus keeps
            // the large trees, which read back more features.)
            layout.vcpuCount = Int(count & 7 == 0 ? (count >> 3) % 300 : (count >> 3) % 16)
        }
        if changes & 8 != 0 { layout.ecamBase = input.layoutField(); layout.ecamSize = input.layoutField() }
        if changes & 16 != 0 { layout.mmioWindowBase = input.layoutField(); layout.mmioWindowSize = input.layoutField() }
        if changes & 32 != 0 { layout.ioWindowBase = input.layoutField(); layout.ioWindowSize = input.layoutField() }
        if changes & 64 != 0 { layout.consolePort = input.u16(); layout.exitPort = input.u16(); layout.probePort = input.u16() }
        if changes & 128 != 0 { layout.probeMMIOBase = input.layoutField(); layout.probeMMIOSize = input.layoutField() }
        // APIC IDs, one per vCPU or not, repeated or not: the builder takes only one per vCPU, all different.
        if changes & 256 != 0 { layout.apicIDs = (0..<Int(input.u8() % 20)).map { _ in input.u8() & 1 == 0 ? UInt32(input.u8()) : input.u32() } }
        let reserved = (0..<Int(input.u8() % 5)).map { _ in (address: input.layoutField(), size: input.layoutField()) }
        layout.commandLine = String(decoding: input.rest().prefix(4096), as: UTF8.self)

        guard let blob = try? makeDeviceTree(for: layout, reserved: reserved) else { return }  // refused: the contract for a bad layout
        let mismatch: String?
        do {
            mismatch = try readBack(DeviceTreeBlob(bytes: blob), layout: layout, reserved: reserved)
        } catch {
            throw FuzzFailure("a tree the builder made does not read back: \(error)")
        }
        if let mismatch { throw FuzzFailure(mismatch) }
    }

    /// What differs between `tree` and the layout it was built from (nil: nothing).
    private static func readBack(_ tree: DeviceTreeBlob, layout: MachineLayout, reserved: [(address: UInt64, size: UInt64)]) throws -> String? {
        func cells(_ address: UInt64, _ size: UInt64) -> [UInt32] {
            [UInt32(address >> 32), UInt32(truncatingIfNeeded: address), UInt32(size >> 32), UInt32(truncatingIfNeeded: size)]
        }
        guard try tree.reservations() == reserved.map({ MemoryReservation(address: $0.address, size: $0.size) }) else {
            return "reservations \(try tree.reservations()) differ from \(reserved)"
        }
        guard try tree.property("reg", of: "/memory@0").cells() == cells(0, layout.ramSize) else { return "/memory@0 reg" }
        let high = "/memory@100000000"
        if layout.highRAMSize > 0 {
            guard try tree.property("reg", of: high).cells() == cells(1 << 32, layout.highRAMSize) else { return "\(high) reg" }
        } else if tree.hasNode(path: high) {
            return "\(high) without high RAM"
        }
        let cpus = try tree.children(of: "/cpus")
        guard cpus.count == layout.vcpuCount else { return "\(cpus.count) CPU nodes for \(layout.vcpuCount) vCPUs" }
        if let ids = layout.apicIDs, ids.count != layout.vcpuCount || Set(ids).count != ids.count {
            return "a tree was built for APIC IDs \(ids) and \(layout.vcpuCount) vCPUs"
        }
        for (index, cpu) in cpus.enumerated() where try tree.property("reg", of: cpu).u32() != layout.apicID(ofVCPU: index) {
            return "cpu \(index) reg"
        }
        guard try tree.property("bootargs", of: "/chosen").strings() == [layout.commandLine] else { return "bootargs differ" }
        guard tree.hasNode(path: "/pci@" + String(layout.ecamBase, radix: 16)) else { return "no PCI host at the ECAM base" }
        let serial = try tree.property("stdout-path", of: "/chosen").strings()
        guard serial.count == 1, tree.hasNode(path: serial[0]) else { return "stdout-path \(serial) names no node" }
        return nil
    }
}
