import Memory
import Testing
import TestSupport

@Suite struct GuestMemoryTests {
    @Test func storesAndLoadsLittleEndianValues() throws {
        let memory = try GuestMemory(size: 1 << 20)
        try memory.store(UInt32(0x1122_3344), at: 0x100)
        #expect(try memory.read(at: 0x100, count: 4) == [0x44, 0x33, 0x22, 0x11])
        #expect(try memory.load(UInt32.self, at: 0x100) == 0x1122_3344)
        try memory.store(UInt64.max, at: (1 << 20) - 8)
        #expect(try memory.load(UInt64.self, at: (1 << 20) - 8) == UInt64.max)
    }

    @Test func accessesOutsideRAMAreRefusedWithAddressAndSize() throws {
        let memory = try GuestMemory(size: 1 << 20)
        #expect(throws: GuestMemoryError.outOfBounds(address: (1 << 20) - 3, count: 4, ramSize: 1 << 20)) {
            try memory.store(UInt32(1), at: (1 << 20) - 3)
        }
        #expect(throws: GuestMemoryError.self) { try memory.write([1, 2], at: 1 << 20) }
        #expect(throws: GuestMemoryError.self) { _ = try memory.read(at: UInt64.max, count: 2) }
        // Address + count overflows 64 bits: refused, not wrapped.
        #expect(throws: GuestMemoryError.self) { _ = try memory.pointer(at: 8, count: UInt64.max) }
        #expect(!memory.contains(UInt64.max - 1, count: 4))
        #expect(memory.contains(0, count: 1 << 20))
        do {
            try memory.store(UInt32(1), at: 0x100000)
        } catch {
            #expect("\(error)" == "guest access of 4 bytes at 0x100000 is outside RAM (0x0…0x100000)")
        }
    }

    @Test func writesCopyArraysSlicesAndOtherCollections() throws {
        let memory = try GuestMemory(size: 64 << 10)
        try memory.write([UInt8](), at: 64 << 10)  // empty: nothing to copy, even at the end of RAM
        let bytes: [UInt8] = Array(0..<32)
        try memory.write(bytes[8..<16], at: 0x100)  // a slice starting at a non-zero index
        #expect(try memory.read(at: 0x100, count: 8) == Array(8..<16))
        try memory.write((1...4).lazy.map { UInt8($0 * 3) }, at: 0x200)  // not contiguous: the element loop
        #expect(try memory.read(at: 0x200, count: 4) == [3, 6, 9, 12])
    }

    @Test func sizesMustBePositivePageMultiples() {
        #expect(throws: GuestMemoryError.badSize(0)) { try GuestMemory(size: 0) }
        #expect(throws: GuestMemoryError.badSize(4097)) { try GuestMemory(size: 4097) }
    }

    @Test func newMemoryIsZeroAndZeroClears() throws {
        let memory = try GuestMemory(size: 64 << 10)
        #expect(try memory.read(at: 0, count: 64 << 10).allSatisfy { $0 == 0 })
        try memory.write([UInt8](repeating: 7, count: 32), at: 16)
        try memory.zero(at: 20, count: 8)
        let bytes = try memory.read(at: 16, count: 32)
        #expect(bytes[0..<4].allSatisfy { $0 == 7 } && bytes[4..<12].allSatisfy { $0 == 0 } && bytes[12...].allSatisfy { $0 == 7 })
    }

    /// Zeroing, which gives whole pages back to the host and writes the partial ones, leaves
    /// exactly the bytes of the range zero: random ranges (inside a page, across page edges,
    /// page-aligned, many pages) over memory full of non-zero bytes, checked against a model.
    @Test(arguments: testSeeds([1, 2, 3, 4, 5]))
    func zeroClearsExactlyItsRangeAtAnyAlignment(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let size = 64 << 10
        let memory = try GuestMemory(size: UInt64(size))
        var model = (0..<size).map { _ in UInt8.random(in: 1...255, using: &random) }
        try memory.write(model, at: 0)
        for _ in 0..<200 {
            var address = Int.random(in: 0..<size, using: &random)
            if Bool.random(using: &random) { address &= ~0xFFF }  // page-aligned starts, half the time
            var count = Int.random(in: 0...min(size - address, Bool.random(using: &random) ? 64 : 5 * 4096), using: &random)
            if Bool.random(using: &random) { count = min(size - address, (count + 0xFFF) & ~0xFFF) }  // whole pages
            try memory.zero(at: UInt64(address), count: UInt64(count))
            for i in address..<(address + count) { model[i] = 0 }
            let actual = try memory.read(at: 0, count: size)
            guard actual == model else {
                let first = zip(actual, model).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                Issue.record("zero(at: \(address), count: \(count)) left byte \(first) wrong; \(replayHint(seed))")
                return
            }
            // Refill the range, so later ranges again start from non-zero bytes.
            let refill = (0..<count).map { _ in UInt8.random(in: 1...255, using: &random) }
            try memory.write(refill, at: UInt64(address))
            model.replaceSubrange(address..<(address + count), with: refill)
        }
    }

    @Test func zeroRefusesARangeOutsideRAM() {
        #expect(throws: GuestMemoryError.outOfBounds(address: 4096, count: 4097, ramSize: 8192)) {
            try GuestMemory(size: 8192).zero(at: 4096, count: 4097)
        }
    }
}
