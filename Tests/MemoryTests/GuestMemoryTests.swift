import Memory
import Testing

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
}
