import DeviceTree
import Foundation
import Platform
import Testing
import TestSupport

/// The reader: lookups on a good blob, and refusal of damaged ones without crashing.
@Suite("Device tree blob reader")
struct DeviceTreeBlobTests {
    /// Trials of the random-damage test: 1000, or FDT_FUZZ_TRIALS for a longer local run.
    static let extraTrials = ProcessInfo.processInfo.environment["FDT_FUZZ_TRIALS"].flatMap { Int($0) } ?? 1000

    static func machineBlob() throws -> [UInt8] {
        try makeDeviceTree(for: MachineLayout(), reserved: [(address: 0, size: 0x10_0000)])
    }

    /// Big-endian header field `index` (0 magic, 1 totalsize, 2 off_dt_struct, 3 off_dt_strings,
    /// 4 off_mem_rsvmap, 5 version, 6 last_comp_version, 7 boot_cpuid_phys,
    /// 8 size_dt_strings, 9 size_dt_struct).
    static func header(_ bytes: [UInt8], _ index: Int) -> Int {
        bytes[index * 4..<index * 4 + 4].reduce(0) { $0 << 8 | Int($1) }
    }

    static func setHeader(_ bytes: inout [UInt8], _ index: Int, _ value: UInt32) {
        for byte in 0..<4 { bytes[index * 4 + byte] = UInt8(truncatingIfNeeded: value >> (24 - 8 * byte)) }
    }

    @Test("lookups: missing nodes and properties, and values of the wrong shape, are named")
    func lookups() throws {
        let blob = try DeviceTreeBlob(bytes: Self.machineBlob())
        #expect(blob.hasNode(path: "/cpus/cpu@0"))
        #expect(!blob.hasNode(path: "/cpus/cpu@1"))
        #expect(throws: DeviceTreeError.nodeNotFound(path: "/nothing")) { try blob.node(path: "/nothing") }
        let relative = #expect(throws: DeviceTreeError.self) { try blob.node(path: "cpus") }
        #expect(relative?.description.contains("\"cpus\"") == true)
        #expect(throws: DeviceTreeError.propertyNotFound(name: "nope", node: "/chosen")) {
            try blob.property("nope", of: "/chosen")
        }
        #expect(throws: DeviceTreeError.badValue(property: "model", node: "/", reason: "30 bytes is not a whole number of 4-byte cells")) {
            try blob.property("model", of: "/").u32()
        }
        #expect(throws: DeviceTreeError.badValue(property: "reg", node: "/memory@0", reason: "expected 1 cell, found 4")) {
            try blob.property("reg", of: "/memory@0").u32()
        }
        #expect(throws: DeviceTreeError.badValue(property: "reg", node: "/isa/serial@3f8", reason: "the value does not end with a NUL byte")) {
            try blob.property("reg", of: "/isa/serial@3f8").string()
        }
        #expect(throws: DeviceTreeError.badValue(property: "compatible", node: "/", reason: "expected 2 cells, found 0")) {
            try DeviceTreeProperty(name: "compatible", node: "/", bytes: []).u64()
        }
        #expect(throws: DeviceTreeError.badValue(property: "interrupt-controller", node: "/interrupt-controller@fec00000", reason: "empty, not a string")) {
            try blob.property("interrupt-controller", of: "/interrupt-controller@fec00000").string()
        }
        let node = try blob.node(path: "/isa/serial@3f8")
        #expect(node.name == "serial@3f8")
        #expect(node.depth == 2)
        #expect(try blob.allNodes().count == 13)
    }

    @Test("an alias resolves to the node's full path")
    func aliases() throws {
        var writer = try DeviceTreeWriter()
        try writer.root { root throws(DeviceTreeError) in
            try root.node("aliases") { aliases throws(DeviceTreeError) in
                try aliases.property("console", string: "/soc/uart@1000")
            }
            try root.node("soc") { soc throws(DeviceTreeError) in
                try soc.node("uart@1000") { _ throws(DeviceTreeError) in }
            }
        }
        let blob = try DeviceTreeBlob(bytes: writer.finish())
        let node = try blob.node(path: "console")
        #expect(node.path == "/soc/uart@1000")
        #expect(node.depth == 2)
        #expect(try blob.children(of: node).isEmpty)
    }

    @Test("a blob inside a larger buffer is read up to its totalsize")
    func trailingBytesIgnored() throws {
        let bytes = try Self.machineBlob()
        let blob = try DeviceTreeBlob(bytes: bytes + [UInt8](repeating: 0xFF, count: 100))
        #expect(blob.bytes == bytes)
    }

    @Test("wrong magic is refused, naming the magic found")
    func wrongMagic() throws {
        var bytes = try Self.machineBlob()
        Self.setHeader(&bytes, 0, 0xDEAD_BEEF)
        let error = #expect(throws: DeviceTreeError.badMagic(found: 0xDEAD_BEEF)) { try DeviceTreeBlob(bytes: bytes) }
        #expect(error?.description == "not a device tree blob: magic is 0xDEADBEEF, expected 0xD00DFEED")
    }

    @Test("a totalsize beyond the bytes given is refused as truncated")
    func totalSizeBeyondBuffer() throws {
        var bytes = try Self.machineBlob()
        let count = bytes.count
        Self.setHeader(&bytes, 1, UInt32(count + 100))
        let error = #expect(throws: DeviceTreeError.truncated(needed: count + 100, available: count)) {
            try DeviceTreeBlob(bytes: bytes)
        }
        #expect(error?.description == "device tree blob truncated: needs \(count + 100) bytes, only \(count) given")
    }

    @Test("a blob cut in half, or shorter than a header, is refused as truncated")
    func truncatedBlobs() throws {
        let bytes = try Self.machineBlob()
        #expect(throws: DeviceTreeError.truncated(needed: bytes.count, available: bytes.count / 2)) {
            try DeviceTreeBlob(bytes: Array(bytes.prefix(bytes.count / 2)))
        }
        #expect(throws: DeviceTreeError.truncated(needed: 40, available: 10)) { try DeviceTreeBlob(bytes: Array(bytes.prefix(10))) }
        #expect(throws: DeviceTreeError.truncated(needed: 40, available: 0)) { try DeviceTreeBlob(bytes: []) }
    }

    @Test("inconsistent headers are refused by libfdt's checks with its error named")
    func corruptHeaders() throws {
        let good = try Self.machineBlob()
        let total = good.count
        let cases: [(field: Int, value: UInt32, expected: String)] = [
            (2, UInt32(total + 8), "FDT_ERR_TRUNCATED"),      // structure block starts past the end
            (5, 1, "FDT_ERR_BADVERSION"),                      // version 1 is not supported
            (9, UInt32(total), "FDT_ERR_TRUNCATED"),           // structure block far too long
            (8, UInt32(total), "FDT_ERR_TRUNCATED"),           // strings block far too long
        ]
        for (field, value, expected) in cases {
            var bytes = good
            Self.setHeader(&bytes, field, value)
            let error = #expect(throws: DeviceTreeError.self, "header field \(field) = \(value)") { try DeviceTreeBlob(bytes: bytes) }
            guard case let .corruptBlob(operation, reason) = error else {
                Issue.record("header field \(field) = \(value): expected corruptBlob, got \(String(describing: error))")
                continue
            }
            #expect(operation.hasPrefix("fdt_check_"))
            #expect(reason.hasPrefix(expected), "header field \(field) = \(value): \(reason)")
        }
        var tiny = good
        Self.setHeader(&tiny, 1, 16)
        #expect(throws: DeviceTreeError.corruptBlob(operation: "the header", reason: "totalsize 16 is smaller than the 40-byte header")) {
            try DeviceTreeBlob(bytes: tiny)
        }
    }

    @Test("a damaged first tag of the structure block is refused")
    func damagedRootTag() throws {
        var bytes = try Self.machineBlob()
        let structure = Self.header(bytes, 2)
        bytes[structure + 3] ^= 0xFF  // FDT_BEGIN_NODE (0x00000001) becomes 0x000000FE
        let error = #expect(throws: DeviceTreeError.self) { try DeviceTreeBlob(bytes: bytes) }
        guard case let .corruptBlob(operation, _) = error else {
            Issue.record("expected corruptBlob, got \(String(describing: error))")
            return
        }
        #expect(operation == "fdt_check_full(\(bytes.count) bytes)")
    }

    /// Flips one random byte of the structure block 1000 times. Each damaged blob is either
    /// refused with a DeviceTreeError, or accepted and then walked completely (every node,
    /// every property, read as cells and as strings) without a crash. A blob with a flipped
    /// tag or length must not be accepted as the same tree.
    @Test("1000 random byte flips in the structure block never crash the reader")
    func randomFlips() throws {
        let good = try Self.machineBlob()
        let structureStart = Self.header(good, 2)
        let structureSize = Self.header(good, 9)
        var generator = SplitMix64(seed: 0x5EED_F17)
        var refused = 0
        var accepted = 0
        for trial in 0..<1000 {
            var bytes = good
            let offset = structureStart + Int.random(in: 0..<structureSize, using: &generator)
            let mask = UInt8.random(in: 1...255, using: &generator)
            bytes[offset] ^= mask
            do {
                let blob = try DeviceTreeBlob(bytes: bytes)
                accepted += 1
                for node in try blob.allNodes() {
                    for property in try blob.properties(of: node) {
                        _ = try? property.cells()
                        _ = try? property.strings()
                        _ = try? blob.property(property.name, of: node)
                    }
                    _ = try? blob.property("reg", of: node.path)
                }
            } catch {
                refused += 1
                #expect(!error.description.isEmpty, "trial \(trial): offset \(offset) ^ \(mask)")
            }
        }
        #expect(refused + accepted == 1000)
        // Most of the structure block is tags, names and lengths: most flips must be caught.
        #expect(refused > 300, "only \(refused) of 1000 damaged blobs were refused")
    }

    @Test("random flips anywhere in the blob, and random truncations, never crash either")
    func randomDamageAnywhere() throws {
        let good = try Self.machineBlob()
        var generator = SplitMix64(seed: 42)
        for _ in 0..<Self.extraTrials {
            var bytes = good
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
            if Bool.random(using: &generator) {
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
            }
            if let blob = try? DeviceTreeBlob(bytes: bytes) {
                for node in (try? blob.allNodes()) ?? [] {
                    _ = try? blob.properties(of: node)
                }
                _ = try? blob.reservations()
            }
        }
    }
}
