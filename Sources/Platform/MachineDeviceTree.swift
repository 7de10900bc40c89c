import DeviceTree

/// The machine's device tree: everything a guest needs to find, described from one
/// `MachineLayout` (addresses come only from the layout; see `MachineLayout.swift`).
///
/// ```
/// /                              #address-cells 2, #size-cells 2, compatible, model
/// ├── memory@0                   RAM 0 … ramSize
/// ├── memory@100000000           high RAM, only when highRAMSize > 0
/// ├── cpus                       #address-cells 1, #size-cells 0
/// │   └── cpu@ID                 reg = the vCPU's APIC ID (vCPU i: i, or layout.apicIDs[i])
/// ├── chosen                     bootargs, stdout-path → the console
/// ├── isa                        x86 port space, see "Port-space convention" below
/// │   ├── probe@<probePort>      swift-vmm,probe (port block)
/// │   ├── exit@<exitPort>        swift-vmm,exit-port
/// │   └── serial@<consolePort>   ns16550a, 1.8432 MHz
/// ├── pci@<ecamBase>             pci-host-ecam-generic, I/O and 32-bit memory windows
/// ├── probe@<probeMMIOBase>      swift-vmm,probe (MMIO page)
/// ├── interrupt-controller@<ioapicBase>  intel,ce4100-ioapic
/// └── interrupt-controller@<lapicBase>   intel,ce4100-lapic
/// ```
///
/// Port-space convention. x86 port I/O has no place in a memory-mapped root, so port devices
/// sit on an `isa` bus node as the IEEE 1275 ISA binding has it (and Linux's `of_bus_isa`
/// reads it): `#address-cells = <2>` with a first cell of 1 for I/O space (0 would be ISA
/// memory) and the port number in the second, `#size-cells = <1>`. The bus's `ranges` maps
/// the 64 Ki ports to root addresses 0 … 0xFFFF: on x86 Linux translates an I/O address that
/// reaches the root into the same port number (`pci_address_to_pio` without `PCI_IOBASE`).
/// The PCI bridge's I/O window follows the same rule (PCI I/O address = port = root address).
/// So `serial@3f8` has `reg = <0x01 0x3f8 0x08>`: I/O space, port 0x3F8, 8 ports.
public enum MachineDeviceTree {
    /// The root's `compatible`.
    public static let compatible = "swift-vmm,machine"
    /// The root's `model`.
    public static let model = "swift-vmm KVM virtual machine"

    // Sizes of register blocks that `MachineLayout` does not carry. They match what the
    // machine claims on its buses (VMM/Machine.swift): 8 console ports, 4 exit ports,
    // 4 probe ports.
    /// Ports of the 8250 console (its eight registers).
    public static let consolePortCount: UInt64 = 8
    /// Ports the exit device claims by default (`MachineLayout.exitPortSize`).
    public static let exitPortCount: UInt64 = 4
    /// Ports of the probe device's port block.
    public static let probePortCount: UInt64 = 4
    /// The IOAPIC's and the xAPIC's register windows (one 4 KiB page each).
    public static let interruptControllerWindowSize: UInt64 = 0x1000
    /// The 8250's input clock: 1.8432 MHz, which gives 115200 baud with divisor 1.
    public static let consoleClockFrequency: UInt32 = 1_843_200
    /// Bytes of ECAM per bus: 32 devices × 8 functions × 4 KiB.
    public static let ecamBytesPerBus: UInt64 = 32 * 8 * 0x1000
    /// Number of x86 I/O ports.
    public static let portSpaceSize: UInt64 = 0x1_0000

    /// ISA binding, first address cell: bit 0 set = I/O space.
    static let isaIOSpace: UInt64 = 0x1
    /// PCI binding, phys.hi cell: space code 01 = I/O, 10 = 32-bit memory (bits 25:24).
    static let pciIOSpace: UInt64 = 0x0100_0000
    static let pciMemory32Space: UInt64 = 0x0200_0000

    /// The paths of the nodes for one layout (unit addresses in lower-case hex, as the
    /// specification writes them).
    public struct Paths: Sendable, Equatable {
        /// The RAM at guest-physical 0: "/memory@0" (high RAM has a node of its own, not named here).
        public let memory: String
        /// The parent of the `cpu@N` nodes: "/cpus".
        public let cpus = "/cpus"
        /// The node with `bootargs` and `stdout-path`: "/chosen".
        public let chosen = "/chosen"
        /// The bus node of the port devices: "/isa".
        public let isa = "/isa"
        /// The console: "/isa/serial@<consolePort>", the path `stdout-path` names.
        public let serial: String
        /// The exit port: "/isa/exit@<exitPort>".
        public let exit: String
        /// The probe device's port block: "/isa/probe@<probePort>".
        public let probePorts: String
        /// The PCI host bridge: "/pci@<ecamBase>".
        public let pci: String
        /// The probe device's MMIO page: "/probe@<probeMMIOBase>".
        public let probeMMIO: String
        /// The IOAPIC: "/interrupt-controller@<ioapicBase>".
        public let ioapic: String
        /// The local APIC: "/interrupt-controller@<lapicBase>".
        public let lapic: String

        /// The paths of the nodes `makeDeviceTree(for:reserved:blobAddress:)` writes for `layout`.
        public init(_ layout: MachineLayout) {
            memory = "/memory@0"
            serial = "/isa/serial@" + unitAddress(UInt64(layout.consolePort))
            exit = "/isa/exit@" + unitAddress(UInt64(layout.exitPort))
            probePorts = "/isa/probe@" + unitAddress(UInt64(layout.probePort))
            pci = "/pci@" + unitAddress(layout.ecamBase)
            probeMMIO = "/probe@" + unitAddress(layout.probeMMIOBase)
            ioapic = "/interrupt-controller@" + unitAddress(layout.ioapicBase)
            lapic = "/interrupt-controller@" + unitAddress(layout.lapicBase)
        }

        /// The node of the vCPU whose APIC ID is `apicID` (vCPU i's is i unless the layout gives
        /// `apicIDs`).
        public func cpu(_ apicID: Int) -> String { "/cpus/cpu@" + unitAddress(UInt64(apicID)) }
    }
}

/// What the layout or the reservations ask for that the device tree cannot describe.
public enum MachineDeviceTreeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A layout field with a value the tree cannot express.
    case invalidLayout(field: String, value: UInt64, reason: String)
    /// A reserved region (or the blob itself) that is not inside guest RAM.
    case reservationOutsideRAM(address: UInt64, size: UInt64, ramSize: UInt64)

    public var description: String {
        switch self {
        case let .invalidLayout(field, value, reason):
            return "machine layout \(field) = \(hexString(value)) cannot be described in the device tree: \(reason)"
        case let .reservationOutsideRAM(address, size, ramSize):
            return "reserved region of \(hexString(size)) bytes at \(hexString(address)) is not inside guest RAM (0 … \(hexString(ramSize)))"
        }
    }
}

/// Builds the flattened device tree that describes `layout` to the guest.
///
/// - Parameters:
///   - layout: the machine; every address and size in the tree comes from it.
///   - reserved: regions of RAM the guest must not use (the VMM's structures below 1 MiB, and
///     the blob's own place if the caller reserves it here), written to the memory reservation
///     block in this order.
///   - blobAddress: where the caller will copy the blob, when it should reserve itself; the
///     tree then gets one more reservation of exactly its own size at that address.
/// - Returns: the blob, `totalsize` bytes.
/// - Throws: `MachineDeviceTreeError` for a layout or reservation the tree cannot describe,
///   `DeviceTreeError` when writing the tree fails.
/// libfdt: the sequential-write calls of `DeviceTreeWriter`.
public func makeDeviceTree(
    for layout: MachineLayout,
    reserved: [(address: UInt64, size: UInt64)],
    blobAddress: UInt64? = nil
) throws -> [UInt8] {
    try validate(layout)
    for region in reserved {
        try checkInsideRAM(address: region.address, size: region.size, layout: layout)
    }
    if let blobAddress {
        try checkInsideRAM(address: blobAddress, size: 1, layout: layout)
    }

    var writer = try DeviceTreeWriter()
    for region in reserved {
        try writer.addReservation(address: region.address, size: region.size)
    }
    let paths = MachineDeviceTree.Paths(layout)
    try writer.root { root throws(DeviceTreeError) in
        try root.property("#address-cells", u32: 2)
        try root.property("#size-cells", u32: 2)
        try root.property("compatible", string: MachineDeviceTree.compatible)
        try root.property("model", string: MachineDeviceTree.model)

        try root.node("memory@0") { memory throws(DeviceTreeError) in
            try memory.property("device_type", string: "memory")
            try memory.reg(address: 0, size: layout.ramSize)
        }
        if let high = layout.highRAMRegion {
            try root.node("memory@\(String(high.base, radix: 16))") { memory throws(DeviceTreeError) in
                try memory.property("device_type", string: "memory")
                try memory.reg(address: high.base, size: high.size)
            }
        }
        try writeCPUs(into: &root, layout: layout)
        try root.node("chosen") { chosen throws(DeviceTreeError) in
            try chosen.property("bootargs", string: layout.commandLine)
            try chosen.property("stdout-path", string: paths.serial)
        }
        try writeISA(into: &root, layout: layout)
        try writePCIHost(into: &root, layout: layout)
        try root.node(nodeName(paths.probeMMIO)) { probe throws(DeviceTreeError) in
            try probe.property("compatible", string: "swift-vmm,probe")
            try probe.reg(address: layout.probeMMIOBase, size: layout.probeMMIOSize)
        }
        try writeInterruptController(into: &root, name: nodeName(paths.ioapic), compatible: "intel,ce4100-ioapic", base: layout.ioapicBase)
        try writeInterruptController(into: &root, name: nodeName(paths.lapic), compatible: "intel,ce4100-lapic", base: layout.lapicBase)
    }
    let blob = try writer.finish(reservingBlobAt: blobAddress)
    if let blobAddress {
        try checkInsideRAM(address: blobAddress, size: UInt64(blob.count), layout: layout)
    }
    return blob
}

/// `/cpus` with one `cpu@ID` per vCPU, in vCPU order; `reg` is the vCPU's local APIC ID (its
/// index unless the layout gives `apicIDs`).
private func writeCPUs(into root: inout DeviceTreeWriter, layout: MachineLayout) throws(DeviceTreeError) {
    try root.node("cpus") { cpus throws(DeviceTreeError) in
        try cpus.property("#address-cells", u32: 1)
        try cpus.property("#size-cells", u32: 0)
        for id in layout.vcpuAPICIDs {
            try cpus.node("cpu@" + unitAddress(UInt64(id))) { cpu throws(DeviceTreeError) in
                try cpu.property("device_type", string: "cpu")
                try cpu.reg(address: UInt64(id), size: 0)
            }
        }
    }
}

/// `/isa` with the port devices, children in port order (see the port-space convention above).
private func writeISA(into root: inout DeviceTreeWriter, layout: MachineLayout) throws(DeviceTreeError) {
    try root.node("isa") { isa throws(DeviceTreeError) in
        try isa.property("device_type", string: "isa")
        try isa.property("#address-cells", u32: 2)
        try isa.property("#size-cells", u32: 1)
        // child (I/O space, port 0) → root address 0, for all 64 Ki ports.
        try isa.property("ranges", cellValues: [
            CellValue(MachineDeviceTree.isaIOSpace, count: 1), CellValue(0, count: 1),
            CellValue(0, count: 2),
            CellValue(MachineDeviceTree.portSpaceSize, count: 1),
        ])
        let devices: [(name: String, port: UInt16, count: UInt64, write: @Sendable (inout DeviceTreeWriter) throws(DeviceTreeError) -> Void)] = [
            ("probe", layout.probePort, MachineDeviceTree.probePortCount, { node throws(DeviceTreeError) in
                try node.property("compatible", string: "swift-vmm,probe")
            }),
            ("exit", layout.exitPort, layout.exitPortSize, { node throws(DeviceTreeError) in
                try node.property("compatible", string: "swift-vmm,exit-port")
            }),
            ("serial", layout.consolePort, MachineDeviceTree.consolePortCount, { node throws(DeviceTreeError) in
                try node.property("compatible", string: "ns16550a")
                try node.property("clock-frequency", u32: MachineDeviceTree.consoleClockFrequency)
            }),
        ]
        for device in devices.sorted(by: { $0.port < $1.port }) {
            try isa.node(device.name + "@" + unitAddress(UInt64(device.port))) { node throws(DeviceTreeError) in
                try device.write(&node)
                try node.property("reg", cellValues: [
                    CellValue(MachineDeviceTree.isaIOSpace, count: 1), CellValue(UInt64(device.port), count: 1),
                    CellValue(device.count, count: 1),
                ])
            }
        }
    }
}

/// The ECAM PCI host bridge (`pci-host-ecam-generic`).
///
/// `ranges` entries are `<phys.hi phys.mid phys.lo  cpu-address(2)  size(2)>`, where phys.hi
/// carries the space code (0x01000000 I/O, 0x02000000 32-bit memory) and phys.mid/lo the PCI
/// address. Both windows are identity-mapped: a BAR's PCI address is its CPU address, and an
/// I/O BAR's PCI address is its port number.
private func writePCIHost(into root: inout DeviceTreeWriter, layout: MachineLayout) throws(DeviceTreeError) {
    try root.node("pci@" + unitAddress(layout.ecamBase)) { pci throws(DeviceTreeError) in
        try pci.property("compatible", string: "pci-host-ecam-generic")
        try pci.property("device_type", string: "pci")
        try pci.reg(address: layout.ecamBase, size: layout.ecamSize)
        let lastBus = layout.ecamSize / MachineDeviceTree.ecamBytesPerBus - 1
        try pci.property("bus-range", cellValues: [CellValue(0, count: 1), CellValue(lastBus, count: 1)])
        try pci.property("#address-cells", u32: 3)
        try pci.property("#size-cells", u32: 2)
        try pci.property("#interrupt-cells", u32: 1)
        try pci.property("ranges", cellValues: [
            CellValue(MachineDeviceTree.pciIOSpace, count: 1), CellValue(layout.ioWindowBase, count: 2),
            CellValue(layout.ioWindowBase, count: 2), CellValue(layout.ioWindowSize, count: 2),
            CellValue(MachineDeviceTree.pciMemory32Space, count: 1), CellValue(layout.mmioWindowBase, count: 2),
            CellValue(layout.mmioWindowBase, count: 2), CellValue(layout.mmioWindowSize, count: 2),
        ])
    }
}

/// An APIC node as the Linux x86 bindings (intel,ce4100-ioapic / -lapic) describe it.
private func writeInterruptController(
    into root: inout DeviceTreeWriter, name: String, compatible: String, base: UInt64
) throws(DeviceTreeError) {
    try root.node(name) { controller throws(DeviceTreeError) in
        try controller.property("compatible", string: compatible)
        try controller.emptyProperty("interrupt-controller")
        try controller.property("#interrupt-cells", u32: 2)
        try controller.reg(address: base, size: MachineDeviceTree.interruptControllerWindowSize)
    }
}

/// Rejects layouts whose values the tree's encodings cannot carry.
private func validate(_ layout: MachineLayout) throws(MachineDeviceTreeError) {
    guard layout.vcpuCount >= 1, UInt32(exactly: layout.vcpuCount - 1) != nil else {
        throw .invalidLayout(field: "vcpuCount", value: UInt64(truncatingIfNeeded: layout.vcpuCount), reason: "needs 1 … 2^32 vCPUs")
    }
    if let ids = layout.apicIDs {
        guard ids.count == layout.vcpuCount else {
            throw .invalidLayout(field: "apicIDs", value: UInt64(ids.count), reason: "needs one APIC ID per vCPU (\(layout.vcpuCount))")
        }
        guard Set(ids).count == ids.count else {
            throw .invalidLayout(field: "apicIDs", value: UInt64(ids.count), reason: "lists an APIC ID twice")
        }
    }
    guard layout.ramSize > 0 else {
        throw .invalidLayout(field: "ramSize", value: layout.ramSize, reason: "a machine needs RAM")
    }
    let busBytes = MachineDeviceTree.ecamBytesPerBus
    guard layout.ecamSize >= busBytes, layout.ecamSize % busBytes == 0, layout.ecamSize / busBytes <= 256 else {
        throw .invalidLayout(field: "ecamSize", value: layout.ecamSize, reason: "ECAM covers 1 … 256 buses of 1 MiB each")
    }
    guard layout.ecamBase <= UInt64.max - layout.ecamSize else {
        throw .invalidLayout(field: "ecamBase", value: layout.ecamBase, reason: "the ECAM window wraps around")
    }
    guard layout.mmioWindowSize > 0, layout.mmioWindowSize <= 1 << 32, layout.mmioWindowBase <= (1 << 32) - layout.mmioWindowSize else {
        throw .invalidLayout(field: "mmioWindowBase", value: layout.mmioWindowBase, reason: "the 32-bit memory window (\(hexString(layout.mmioWindowSize)) bytes) must be non-empty and end at or below 4 GiB")
    }
    let ports = MachineDeviceTree.portSpaceSize
    guard layout.ioWindowSize > 0, layout.ioWindowSize <= ports, layout.ioWindowBase <= ports - layout.ioWindowSize else {
        throw .invalidLayout(field: "ioWindowBase", value: layout.ioWindowBase, reason: "the I/O window (\(hexString(layout.ioWindowSize)) ports) must be non-empty and end at or below port 0x10000")
    }
}

private func checkInsideRAM(address: UInt64, size: UInt64, layout: MachineLayout) throws(MachineDeviceTreeError) {
    guard address < layout.ramSize, size <= layout.ramSize - address else {
        throw .reservationOutsideRAM(address: address, size: size, ramSize: layout.ramSize)
    }
}

/// A unit address: lower-case hex without `0x` or leading zeros.
private func unitAddress(_ value: UInt64) -> String { String(value, radix: 16) }

/// The last path component.
private func nodeName(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? ""
}

private func hexString(_ value: UInt64) -> String { "0x" + String(value, radix: 16, uppercase: true) }
