import DeviceTree
import Platform
import Foundation
import Testing

/// The machine's tree, checked twice: as text through `dtc -I dtb -O dts`, and parsed back
/// with `DeviceTreeBlob`.
@Suite("Machine device tree")
struct MachineDeviceTreeTests {
    /// What the VMM reserves below 1 MiB (GDT, page tables, stacks, the blob's area).
    static let lowMemory: [(address: UInt64, size: UInt64)] = [(address: 0, size: 0x10_0000)]

    static var customLayout: MachineLayout {
        var layout = MachineLayout()
        layout.ecamBase = 0xB000_0000
        layout.mmioWindowBase = 0x8000_0000
        layout.mmioWindowSize = 0x1000_0000
        layout.ramSize = 128 << 20
        layout.vcpuCount = 2
        layout.commandLine = "console=ttyS0 swiftvmm.test=msix-basic verbose"
        return layout
    }

    /// Three vCPUs with APIC IDs of their own, one past xAPIC's 8 bits.
    static var apicIDLayout: MachineLayout {
        var layout = MachineLayout()
        layout.vcpuCount = 3
        layout.apicIDs = [0, 300, 7]
        return layout
    }

    /// Every node and every property line dtc prints for the default layout.
    static let defaultDTS: [(path: String, lines: [String])] = [
        ("/", [
            "#address-cells = <0x02>;",
            "#size-cells = <0x02>;",
            "compatible = \"swift-vmm,machine\";",
            "model = \"swift-vmm KVM virtual machine\";",
        ]),
        ("/memory@0", [
            "device_type = \"memory\";",
            "reg = <0x00 0x00 0x00 0x4000000>;",
        ]),
        ("/cpus", [
            "#address-cells = <0x01>;",
            "#size-cells = <0x00>;",
        ]),
        ("/cpus/cpu@0", [
            "device_type = \"cpu\";",
            "reg = <0x00>;",
        ]),
        ("/chosen", [
            // An empty command line is written as "" (one NUL byte), which dtc prints as bytes.
            "bootargs = [00];",
            "stdout-path = \"/isa/serial@3f8\";",
        ]),
        ("/isa", [
            "device_type = \"isa\";",
            "#address-cells = <0x02>;",
            "#size-cells = <0x01>;",
            "ranges = <0x01 0x00 0x00 0x00 0x10000>;",
        ]),
        ("/isa/probe@e0", [
            "compatible = \"swift-vmm,probe\";",
            "reg = <0x01 0xe0 0x04>;",
        ]),
        ("/isa/exit@f4", [
            "compatible = \"swift-vmm,exit-port\";",
            "reg = <0x01 0xf4 0x04>;",
        ]),
        ("/isa/serial@3f8", [
            "compatible = \"ns16550a\";",
            "clock-frequency = <0x1c2000>;",
            "reg = <0x01 0x3f8 0x08>;",
        ]),
        ("/pci@e0000000", [
            "compatible = \"pci-host-ecam-generic\";",
            "device_type = \"pci\";",
            "reg = <0x00 0xe0000000 0x00 0x100000>;",
            "bus-range = <0x00 0x00>;",
            "#address-cells = <0x03>;",
            "#size-cells = <0x02>;",
            "#interrupt-cells = <0x01>;",
            "ranges = <0x1000000 0x00 0xc000 0x00 0xc000 0x00 0x4000 0x2000000 0x00 0xc0000000 0x00 0xc0000000 0x00 0x20000000>;",
        ]),
        ("/probe@f0000000", [
            "compatible = \"swift-vmm,probe\";",
            "reg = <0x00 0xf0000000 0x00 0x1000>;",
        ]),
        ("/interrupt-controller@fec00000", [
            "compatible = \"intel,ce4100-ioapic\";",
            "interrupt-controller;",
            "#interrupt-cells = <0x02>;",
            "reg = <0x00 0xfec00000 0x00 0x1000>;",
        ]),
        ("/interrupt-controller@fee00000", [
            "compatible = \"intel,ce4100-lapic\";",
            "interrupt-controller;",
            "#interrupt-cells = <0x02>;",
            "reg = <0x00 0xfee00000 0x00 0x1000>;",
        ]),
    ]

    /// The nodes that differ for `customLayout`; all others print as in `defaultDTS`.
    static let customDTS: [(path: String, lines: [String])] = [
        ("/memory@0", [
            "device_type = \"memory\";",
            "reg = <0x00 0x00 0x00 0x8000000>;",
        ]),
        ("/cpus/cpu@1", [
            "device_type = \"cpu\";",
            "reg = <0x01>;",
        ]),
        ("/chosen", [
            "bootargs = \"console=ttyS0 swiftvmm.test=msix-basic verbose\";",
            "stdout-path = \"/isa/serial@3f8\";",
        ]),
        ("/pci@b0000000", [
            "compatible = \"pci-host-ecam-generic\";",
            "device_type = \"pci\";",
            "reg = <0x00 0xb0000000 0x00 0x100000>;",
            "bus-range = <0x00 0x00>;",
            "#address-cells = <0x03>;",
            "#size-cells = <0x02>;",
            "#interrupt-cells = <0x01>;",
            "ranges = <0x1000000 0x00 0xc000 0x00 0xc000 0x00 0x4000 0x2000000 0x00 0x80000000 0x00 0x80000000 0x00 0x10000000>;",
        ]),
    ]

    /// Checks that dtc printed exactly `expected` (nodes in order, each node's property lines).
    private func expectDTS(_ dts: DTSText, equals expected: [(path: String, lines: [String])]) {
        #expect(dts.nodes == expected.map(\.path))
        for (path, lines) in expected {
            #expect(dts.lines(of: path) == lines, "node \(path)")
        }
    }

    /// dtc's checks that this tree trips on purpose, as (check name, node path):
    /// - `unit_address_vs_reg` on /isa: the ISA bus has `ranges` but no address of its own in
    ///   the root's memory space; `isa@0` would instead clash with `memory@0`
    ///   (`unique_unit_address`), and Linux finds the bus by the name "isa" either way.
    /// - `interrupt_provider` on the two APIC nodes: dtc 1.6 wants `#address-cells` in every
    ///   interrupt provider, but the Linux bindings (intel,ce4100-ioapic.yaml) allow no such
    ///   property; later dtc releases dropped that demand.
    /// - `interrupt_provider` on the PCI host: later dtc releases flag `#interrupt-cells`
    ///   without `interrupt-controller`/`interrupt-map`; the host keeps it for its children's
    ///   `interrupts` (none yet: the machine's PCI functions use MSI-X).
    /// Any other warning fails the test.
    private func expectOnlyKnownWarnings(_ warnings: String, layout: MachineLayout) {
        let paths = MachineDeviceTree.Paths(layout)
        let known: Set<String> = [
            "unit_address_vs_reg " + paths.isa,
            "interrupt_provider " + paths.ioapic,
            "interrupt_provider " + paths.lapic,
            "interrupt_provider " + paths.pci,
        ]
        for line in warnings.split(separator: "\n") {
            // "<file>: Warning (<check>): <node>: <message>"
            let fields = line.components(separatedBy: ": ")
            guard fields.count >= 3, fields[1].hasPrefix("Warning (") else {
                Issue.record("unexpected dtc output: \(line)")
                continue
            }
            let check = fields[1].dropFirst("Warning (".count).dropLast()
            #expect(known.contains("\(check) \(fields[2])"), "unexpected dtc warning: \(line)")
        }
    }

    @Test("default layout: dtc prints every node and property")
    func defaultLayoutThroughDTC() throws {
        let blob = try makeDeviceTree(for: MachineLayout(), reserved: Self.lowMemory)
        let output = try DTC.decompile(blob)
        expectOnlyKnownWarnings(output.warnings, layout: MachineLayout())
        let dts = DTSText(output.source)
        expectDTS(dts, equals: Self.defaultDTS)
        #expect(dts.reservations == ["/memreserve/ 0x0000000000000000 0x0000000000100000;"])
    }

    @Test("non-default layout: ECAM, MMIO window, RAM, vCPUs and command line follow the layout")
    func customLayoutThroughDTC() throws {
        let layout = Self.customLayout
        let reserved: [(address: UInt64, size: UInt64)] = [(address: 0, size: 0x8_0000), (address: 0x8_0000, size: 0x8_0000)]
        let blob = try makeDeviceTree(for: layout, reserved: reserved)
        let output = try DTC.decompile(blob)
        expectOnlyKnownWarnings(output.warnings, layout: layout)
        let dts = DTSText(output.source)

        var expected = Self.defaultDTS.map { entry in
            (path: entry.path == "/pci@e0000000" ? "/pci@b0000000" : entry.path, lines: entry.lines)
        }
        let cpu0 = try #require(expected.firstIndex { $0.path == "/cpus/cpu@0" })
        expected.insert(("/cpus/cpu@1", []), at: cpu0 + 1)
        for (path, lines) in Self.customDTS {
            let index = try #require(expected.firstIndex { $0.path == path })
            expected[index].lines = lines
        }
        expectDTS(dts, equals: expected)
        #expect(dts.reservations == [
            "/memreserve/ 0x0000000000000000 0x0000000000080000;",
            "/memreserve/ 0x0000000000080000 0x0000000000080000;",
        ])
    }

    @Test("parse back: the reader finds the layout's values", arguments: [MachineLayout(), customLayout, apicIDLayout])
    func parseBack(layout: MachineLayout) throws {
        let blob = try DeviceTreeBlob(bytes: makeDeviceTree(for: layout, reserved: Self.lowMemory))
        let paths = MachineDeviceTree.Paths(layout)

        #expect(try blob.property("compatible", of: "/").string() == "swift-vmm,machine")
        #expect(try blob.property("#address-cells", of: "/").u32() == 2)
        #expect(try blob.property("#size-cells", of: "/").u32() == 2)
        #expect(try blob.property("device_type", of: paths.memory).string() == "memory")
        #expect(try blob.property("reg", of: paths.memory).cells() == cells(0, layout.ramSize))

        let cpus = try blob.children(of: paths.cpus)
        #expect(cpus.map(\.path) == layout.vcpuAPICIDs.map { paths.cpu(Int($0)) }, "in vCPU order, named by APIC ID")
        for (index, cpu) in cpus.enumerated() {
            #expect(try blob.property("reg", of: cpu).u32() == layout.apicID(ofVCPU: index))
            #expect(try blob.property("device_type", of: cpu).string() == "cpu")
        }

        #expect(try blob.property("bootargs", of: paths.chosen).string() == layout.commandLine)
        let stdout = try blob.property("stdout-path", of: paths.chosen).string()
        #expect(stdout == paths.serial)
        #expect(try blob.property("compatible", of: stdout).string() == "ns16550a")
        #expect(try blob.property("reg", of: paths.serial).cells() == [1, UInt32(layout.consolePort), 8])
        #expect(try blob.property("clock-frequency", of: paths.serial).u32() == 1_843_200)
        #expect(try blob.property("reg", of: paths.exit).cells() == [1, UInt32(layout.exitPort), 4])
        #expect(try blob.property("compatible", of: paths.exit).string() == "swift-vmm,exit-port")
        #expect(try blob.property("reg", of: paths.probePorts).cells() == [1, UInt32(layout.probePort), 4])
        #expect(try blob.property("reg", of: paths.probeMMIO).cells() == cells(layout.probeMMIOBase, layout.probeMMIOSize))
        #expect(try blob.property("compatible", of: paths.probeMMIO).string() == "swift-vmm,probe")

        #expect(try blob.property("compatible", of: paths.pci).string() == "pci-host-ecam-generic")
        #expect(try blob.property("device_type", of: paths.pci).string() == "pci")
        #expect(try blob.property("reg", of: paths.pci).cells() == cells(layout.ecamBase, layout.ecamSize))
        #expect(try blob.property("bus-range", of: paths.pci).cells() == [0, 0])
        #expect(try blob.property("#address-cells", of: paths.pci).u32() == 3)
        #expect(try blob.property("#size-cells", of: paths.pci).u32() == 2)
        #expect(try blob.property("#interrupt-cells", of: paths.pci).u32() == 1)
        let ranges = try blob.property("ranges", of: paths.pci).cells()
        #expect(ranges == [0x0100_0000] + cells(layout.ioWindowBase, layout.ioWindowBase, layout.ioWindowSize)
            + [0x0200_0000] + cells(layout.mmioWindowBase, layout.mmioWindowBase, layout.mmioWindowSize))

        for (path, compatible, base) in [
            (paths.ioapic, "intel,ce4100-ioapic", layout.ioapicBase), (paths.lapic, "intel,ce4100-lapic", layout.lapicBase),
        ] {
            #expect(try blob.property("compatible", of: path).string() == compatible)
            #expect(try blob.property("interrupt-controller", of: path).isEmpty)
            #expect(try blob.property("#interrupt-cells", of: path).u32() == 2)
            #expect(try blob.property("reg", of: path).cells() == cells(base, 0x1000))
        }
        #expect(try blob.reservations() == [MemoryReservation(address: 0, size: 0x10_0000)])
    }

    @Test("the blob can reserve its own place, with exactly its own size")
    func blobReservesItself() throws {
        let layout = Self.customLayout
        let bytes = try makeDeviceTree(for: layout, reserved: Self.lowMemory, blobAddress: 0x20_0000)
        let blob = try DeviceTreeBlob(bytes: bytes)
        #expect(blob.size == bytes.count)
        #expect(try blob.reservations() == [
            MemoryReservation(address: 0, size: 0x10_0000),
            MemoryReservation(address: 0x20_0000, size: UInt64(bytes.count)),
        ])
        let dts = DTSText(try DTC.decompile(bytes).source)
        #expect(dts.reservations.last == "/memreserve/ 0x0000000000200000 " + String(format16(UInt64(bytes.count))) + ";")
        // The tree itself is unchanged by the extra entry.
        let plain = try DeviceTreeBlob(bytes: makeDeviceTree(for: layout, reserved: Self.lowMemory))
        #expect(try blob.allNodes().map(\.path) == plain.allNodes().map(\.path))
        #expect(bytes.count == plain.size + 16)
    }

    @Test("layouts and reservations the tree cannot describe are refused with the value named")
    func invalidInputs() throws {
        var noCPU = MachineLayout()
        noCPU.vcpuCount = 0
        #expect(throws: MachineDeviceTreeError.invalidLayout(field: "vcpuCount", value: 0, reason: "needs 1 … 2^32 vCPUs")) {
            try makeDeviceTree(for: noCPU, reserved: [])
        }
        var oddECAM = MachineLayout()
        oddECAM.ecamSize = 0x18_0000
        let ecamError = #expect(throws: MachineDeviceTreeError.self) { try makeDeviceTree(for: oddECAM, reserved: []) }
        #expect(ecamError?.description.contains("ecamSize = 0x180000") == true)

        var highWindow = MachineLayout()
        highWindow.mmioWindowBase = 0xF000_0000
        highWindow.mmioWindowSize = 0x2000_0000
        #expect(throws: MachineDeviceTreeError.self) { try makeDeviceTree(for: highWindow, reserved: []) }

        let outside = #expect(throws: MachineDeviceTreeError.self) {
            try makeDeviceTree(for: MachineLayout(), reserved: [(address: 0x3F0_0000, size: 0x20_0000)])
        }
        #expect(outside == .reservationOutsideRAM(address: 0x3F0_0000, size: 0x20_0000, ramSize: 0x400_0000))
        #expect(outside?.description.contains("0x3F00000") == true)

        let empty = #expect(throws: DeviceTreeError.self) {
            try makeDeviceTree(for: MachineLayout(), reserved: [(address: 0x1000, size: 0)])
        }
        #expect(empty == .badReservation(address: 0x1000, size: 0, reason: "the size is zero"))
    }

    @Test("more vCPUs than 15 get hex unit addresses matching their APIC IDs")
    func manyCPUs() throws {
        var layout = MachineLayout()
        layout.vcpuCount = 17
        let blob = try DeviceTreeBlob(bytes: makeDeviceTree(for: layout, reserved: Self.lowMemory))
        #expect(try blob.property("reg", of: "/cpus/cpu@10").u32() == 16)
        #expect(try blob.property("reg", of: "/cpus/cpu@a").u32() == 10)
    }
}

/// Each value as two cells (high, low).
private func cells(_ values: UInt64...) -> [UInt32] {
    values.flatMap { [UInt32(truncatingIfNeeded: $0 >> 32), UInt32(truncatingIfNeeded: $0)] }
}

/// Sixteen hex digits with `0x`, as dtc prints /memreserve/ values.
private func format16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
}
