import DeviceTree
import Testing

@Suite("Device tree writer")
struct DeviceTreeWriterTests {
    /// A tree with one property of each kind, under a parent with 1 address and 1 size cell.
    static func sampleTree(initialCapacity: Int = 4096) throws -> [UInt8] {
        var writer = try DeviceTreeWriter(initialCapacity: initialCapacity)
        try writer.addReservation(address: 0x1000, size: 0x2000)
        try writer.root { root throws(DeviceTreeError) in
            try root.property("#address-cells", u32: 1)
            try root.property("#size-cells", u32: 1)
            try root.node("device@4000") { node throws(DeviceTreeError) in
                try node.property("cell", u32: 0xDEAD_BEEF)
                try node.property("cells", cells: [1, 2, 3])
                try node.property("wide", u64: 0x1_2345_6789)
                try node.property("label", string: "hello")
                try node.property("compatible", strings: ["vendor,a", "vendor,b"])
                try node.emptyProperty("flag")
                try node.property("raw", bytes: [0xAB, 0xCD, 0xEF])
                try node.reg([(address: 0x4000, size: 0x100), (address: 0x5000, size: 0x10)])
            }
        }
        return try writer.finish()
    }

    @Test("every kind of property reads back through the reader")
    func propertiesRoundTrip() throws {
        let blob = try DeviceTreeBlob(bytes: Self.sampleTree())
        let node = "/device@4000"
        #expect(try blob.property("cell", of: node).u32() == 0xDEAD_BEEF)
        #expect(try blob.property("cells", of: node).cells() == [1, 2, 3])
        #expect(try blob.property("wide", of: node).u64() == 0x1_2345_6789)
        #expect(try blob.property("wide", of: node).cells() == [1, 0x2345_6789])
        #expect(try blob.property("label", of: node).string() == "hello")
        #expect(try blob.property("compatible", of: node).strings() == ["vendor,a", "vendor,b"])
        #expect(try blob.property("flag", of: node).isEmpty)
        #expect(try blob.property("raw", of: node).bytes == [0xAB, 0xCD, 0xEF])
        #expect(try blob.property("reg", of: node).cells() == [0x4000, 0x100, 0x5000, 0x10])
        #expect(try blob.properties(of: node).map(\.name) == ["cell", "cells", "wide", "label", "compatible", "flag", "raw", "reg"])
        #expect(try blob.reservations() == [MemoryReservation(address: 0x1000, size: 0x2000)])
    }

    @Test("every kind of property prints as expected through dtc")
    func propertiesThroughDTC() throws {
        let output = try DTC.decompile(Self.sampleTree())
        #expect(output.warnings.isEmpty, "dtc warnings: \(output.warnings)")
        let dts = DTSText(output.source)
        #expect(dts.nodes == ["/", "/device@4000"])
        #expect(dts.lines(of: "/device@4000") == [
            "cell = <0xdeadbeef>;",
            "cells = <0x01 0x02 0x03>;",
            "wide = <0x01 0x23456789>;",
            "label = \"hello\";",
            "compatible = \"vendor,a\\0vendor,b\";",
            "flag;",
            "raw = [ab cd ef];",
            "reg = <0x4000 0x100 0x5000 0x10>;",
        ])
        #expect(dts.reservations == ["/memreserve/ 0x0000000000001000 0x0000000000002000;"])
    }

    @Test("a buffer too small at first grows until the tree fits")
    func growsItsBuffer() throws {
        var writer = try DeviceTreeWriter(initialCapacity: 64)
        try writer.root { root throws(DeviceTreeError) in
            for index in 0..<300 {
                try root.node("node@\(String(index, radix: 16))") { node throws(DeviceTreeError) in
                    try node.property("index", u32: UInt32(index))
                    try node.property("name-\(index % 7)", string: String(repeating: "x", count: index % 50))
                }
            }
        }
        let bytes = try writer.finish()
        let blob = try DeviceTreeBlob(bytes: bytes)
        #expect(try blob.children(of: "/").count == 300)
        #expect(try blob.property("index", of: "/node@12b").u32() == 299)
        #expect(try blob.property("name-5", of: "/node@12b").string() == String(repeating: "x", count: 49))
        // The small and the roomy writer produce the same blob.
        #expect(try Self.sampleTree(initialCapacity: 64) == Self.sampleTree(initialCapacity: 1 << 16))
    }

    @Test("a tree larger than maximumSize is refused with blobTooSmall (FDT_ERR_NOSPACE)")
    func refusesToGrowPastTheLimit() throws {
        var writer = try DeviceTreeWriter(initialCapacity: 128, maximumSize: 256)
        let error = #expect(throws: DeviceTreeError.self) {
            try writer.root { root throws(DeviceTreeError) in
                try root.property("big", bytes: [UInt8](repeating: 7, count: 300))
            }
        }
        #expect(error == .blobTooSmall(operation: "fdt_property(\"big\" of /, 300 bytes)", capacity: 256))
        #expect(error?.description.contains("FDT_ERR_NOSPACE") == true)
    }

    @Test("node names outside the specification are refused", arguments: [
        ("", "only the root node has an empty name"),
        ("bad/name", "character '/' is not allowed (only 0-9 a-z A-Z , . _ + -)"),
        ("has space", "character 0x20 is not allowed (only 0-9 a-z A-Z , . _ + -)"),
        ("9lives", "it must start with a letter"),
        ("@10", "the part before '@' is empty"),
        ("serial@", "the unit address after '@' is empty"),
        ("serial@3f8@1", "character '@' is not allowed in a unit address"),
        (String(repeating: "n", count: 32), "the part before '@' has 32 characters, at most 31 allowed"),
    ])
    func badNodeNames(name: String, reason: String) throws {
        var writer = try DeviceTreeWriter()
        try writer.beginNode("")
        #expect(throws: DeviceTreeError.badNodeName(name, reason: reason)) { try writer.beginNode(name) }
        // The writer is still usable after the refusal.
        try writer.beginNode("fine@1")
        try writer.endNode()
        try writer.endNode()
        #expect(try DeviceTreeBlob(bytes: writer.finish()).children(of: "/").map(\.name) == ["fine@1"])
    }

    @Test("the first node must be the root, and there is only one")
    func rootRules() throws {
        var writer = try DeviceTreeWriter()
        #expect(throws: DeviceTreeError.badNodeName("cpus", reason: "the first node is the root, whose name is empty")) {
            try writer.beginNode("cpus")
        }
        try writer.root { _ throws(DeviceTreeError) in }
        let second = #expect(throws: DeviceTreeError.self) { try writer.beginNode("") }
        #expect(second?.description.contains("a tree has one root") == true)
    }

    @Test("property names outside the specification, duplicates and late properties are refused")
    func badProperties() throws {
        var writer = try DeviceTreeWriter()
        try writer.beginNode("")
        #expect(throws: DeviceTreeError.badProperty(name: "bad name", node: "/", reason: "character 0x20 is not allowed in a property name (only 0-9 a-z A-Z , . _ + ? # -)")) {
            try writer.property("bad name", u32: 1)
        }
        #expect(throws: DeviceTreeError.badProperty(name: "", node: "/", reason: "the name is empty")) {
            try writer.emptyProperty("")
        }
        try writer.property("model", string: "x")
        #expect(throws: DeviceTreeError.badProperty(name: "model", node: "/", reason: "written twice")) {
            try writer.property("model", string: "y")
        }
        #expect(throws: DeviceTreeError.badProperty(name: "label", node: "/", reason: "string 1 contains a NUL byte at offset 1")) {
            try writer.property("label", strings: ["ok", "a\u{0}b"])
        }
        #expect(throws: DeviceTreeError.badProperty(name: "list", node: "/", reason: "an empty string list; use emptyProperty(_:) for a flag")) {
            try writer.property("list", strings: [])
        }
        try writer.node("child") { _ throws(DeviceTreeError) in }
        #expect(throws: DeviceTreeError.badProperty(name: "late", node: "/", reason: "properties must come before child nodes, and child \"child\" is already written")) {
            try writer.property("late", u32: 1)
        }
        #expect(throws: DeviceTreeError.badNodeName("child", reason: "/ already has a child of this name")) {
            try writer.beginNode("child")
        }
    }

    @Test("reg values too large for the parent's cells are refused with the value named")
    func regOverflow() throws {
        var writer = try DeviceTreeWriter()
        try writer.beginNode("")
        try writer.property("#address-cells", u32: 1)
        try writer.property("#size-cells", u32: 1)
        try writer.beginNode("dev@0")
        let error = #expect(throws: DeviceTreeError.self) { try writer.reg(address: 0x1_0000_0000, size: 0x10) }
        #expect(error == .badProperty(name: "reg", node: "/dev@0", reason: "value 0x100000000 does not fit in 1 cell"))
        #expect(throws: DeviceTreeError.self) { try writer.property("x", cellValues: [CellValue(1, count: 3)]) }
    }

    @Test("a reg on the root has no parent cells to use")
    func regOnRoot() throws {
        var writer = try DeviceTreeWriter()
        try writer.beginNode("")
        #expect(throws: DeviceTreeError.badProperty(name: "reg", node: "/", reason: "needs a parent node to give #address-cells and #size-cells")) {
            try writer.reg(address: 0, size: 1)
        }
    }

    @Test("libfdt refuses a reservation after the first node (FDT_ERR_BADSTATE)")
    func reservationAfterNodes() throws {
        var writer = try DeviceTreeWriter()
        try writer.beginNode("")
        let error = #expect(throws: DeviceTreeError.self) { try writer.addReservation(address: 0x1000, size: 0x1000) }
        guard case let .badState(operation, reason) = error else {
            Issue.record("expected badState, got \(String(describing: error))")
            return
        }
        #expect(operation == "fdt_add_reservemap_entry(0x1000, 0x1000)")
        #expect(reason.hasPrefix("FDT_ERR_BADSTATE"))
    }

    @Test("empty and wrapping reservations are refused")
    func badReservations() throws {
        var writer = try DeviceTreeWriter()
        #expect(throws: DeviceTreeError.badReservation(address: 0, size: 0, reason: "the size is zero")) {
            try writer.addReservation(address: 0, size: 0)
        }
        #expect(throws: DeviceTreeError.badReservation(address: UInt64.max, size: 2, reason: "it runs past the end of the 64-bit address space")) {
            try writer.addReservation(address: UInt64.max, size: 2)
        }
        try writer.addReservation(address: UInt64.max, size: 1)
    }

    @Test("unbalanced nodes and calls after finish are refused")
    func callOrder() throws {
        var writer = try DeviceTreeWriter()
        #expect(throws: DeviceTreeError.badState(operation: "endNode()", reason: "no node is open")) { try writer.endNode() }
        #expect(throws: DeviceTreeError.badState(operation: "finish()", reason: "no root node was written")) { _ = try writer.finish() }
        #expect(throws: DeviceTreeError.badState(operation: "property(\"x\")", reason: "no node is open")) { try writer.property("x", u32: 1) }
        try writer.beginNode("")
        try writer.beginNode("open")
        #expect(throws: DeviceTreeError.badState(operation: "finish()", reason: "node /open is still open")) { _ = try writer.finish() }
        try writer.endNode()
        try writer.endNode()
        _ = try writer.finish()
        #expect(throws: DeviceTreeError.badState(operation: "finish()", reason: "the tree is already finished")) { _ = try writer.finish() }
        #expect(throws: DeviceTreeError.badState(operation: "beginNode(\"x\")", reason: "the tree is already finished")) { try writer.beginNode("x") }
        #expect(throws: DeviceTreeError.badState(operation: "property(\"x\")", reason: "the tree is already finished")) { try writer.property("x", u32: 1) }
        // libfdt itself refuses to touch a finished tree.
        let late = #expect(throws: DeviceTreeError.self) { try writer.addReservation(address: 0, size: 1) }
        #expect(late?.description.contains("FDT_ERR_BADSTATE") == true)
    }

    @Test("a self-reserving blob covers exactly its own bytes")
    func selfReservation() throws {
        var writer = try DeviceTreeWriter()
        try writer.addReservation(address: 0, size: 0x1000)
        try writer.root { root throws(DeviceTreeError) in try root.property("model", string: "m") }
        let bytes = try writer.finish(reservingBlobAt: 0x8_0000)
        let blob = try DeviceTreeBlob(bytes: bytes)
        #expect(try blob.reservations() == [
            MemoryReservation(address: 0, size: 0x1000), MemoryReservation(address: 0x8_0000, size: UInt64(bytes.count)),
        ])
        #expect(try blob.property("model", of: "/").string() == "m")

        var wrapping = try DeviceTreeWriter()
        try wrapping.root { _ throws(DeviceTreeError) in }
        let error = #expect(throws: DeviceTreeError.self) { _ = try wrapping.finish(reservingBlobAt: UInt64.max - 10) }
        guard case .badReservation = error else {
            Issue.record("expected badReservation, got \(String(describing: error))")
            return
        }
    }
}
