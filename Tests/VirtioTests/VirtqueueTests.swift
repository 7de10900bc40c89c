import Foundation
import Memory
import Testing
import TestSupport
@testable import Virtio

/// A driver's side of a split ring in a small guest RAM: the descriptor table at 0x1000, the
/// driver area at 0x2000, the device area at 0x3000, buffers from 0x10000.
struct RingDriver {
    let memory: GuestMemory
    let size: Int
    let table: UInt64 = 0x1000, driver: UInt64 = 0x2000, device: UInt64 = 0x3000
    var available: UInt16 = 0

    init(size: Int = 8, ram: UInt64 = 1 << 20) throws {
        memory = try GuestMemory(size: ram)
        self.size = size
    }

    func descriptor(_ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0, table: UInt64? = nil) throws {
        let at = (table ?? self.table) + 16 * UInt64(index)
        try memory.store(address, at: at)
        try memory.store(length, at: at + 8)
        try memory.store(flags, at: at + 12)
        try memory.store(next, at: at + 14)
    }

    mutating func offer(_ head: UInt16) throws {
        try memory.store(head, at: driver + 4 + 2 * UInt64(Int(available) % size))
        available &+= 1
        try memory.store(available, at: driver + 2)
    }

    func queue(features: UInt64 = 0) throws -> SplitVirtqueue {
        try SplitVirtqueue(index: 0, size: size, maximum: 256, descriptorTable: table, driverArea: driver, deviceArea: device,
                           features: features, memory: memory)
    }

    var usedIndex: UInt16 { (try? memory.load(UInt16.self, at: device + 2)) ?? 0 }
    func used(_ slot: Int) throws -> (id: UInt32, length: UInt32) {
        (try memory.load(UInt32.self, at: device + 4 + 8 * UInt64(slot)), try memory.load(UInt32.self, at: device + 8 + 8 * UInt64(slot)))
    }
}

@Suite struct VirtqueueTests {
    @Test func aChainIsReadInOrderAndCompletedIntoTheUsedRing() throws {
        var d = try RingDriver()
        try d.descriptor(3, address: 0x10000, length: 16, flags: 1, next: 5)
        try d.descriptor(5, address: 0x11000, length: 512, flags: 1 | 2, next: 1)
        try d.descriptor(1, address: 0x12000, length: 1, flags: 2)
        try d.offer(3)
        var q = try d.queue()
        let chain = try #require(try q.next())
        #expect(chain.head == 3)
        #expect(chain.readable == [GuestBuffer(address: 0x10000, length: 16)])
        #expect(chain.writable == [GuestBuffer(address: 0x11000, length: 512), GuestBuffer(address: 0x12000, length: 1)])
        #expect(try q.next() == nil, "one chain offered")
        q.complete(chain, written: 513)
        #expect(d.usedIndex == 1)
        #expect(try d.used(0) == (3, 513))
    }

    @Test func interruptsFollowNoInterruptOrUsedEvent() throws {
        var d = try RingDriver()
        try d.descriptor(0, address: 0x10000, length: 4, flags: 2)
        var q = try d.queue()
        try d.offer(0)
        q.complete(try #require(try q.next()), written: 4)
        let fires0 = q.needsInterrupt(); #expect(fires0)
        try d.memory.store(UInt16(1), at: d.driver)  // VIRTQ_AVAIL_F_NO_INTERRUPT
        let fires1 = q.needsInterrupt(); #expect(!fires1)

        var e = try RingDriver()
        try e.descriptor(0, address: 0x10000, length: 4, flags: 2)
        var eq = try e.queue(features: VirtioFeature.eventIndex)
        try e.memory.store(UInt16(1), at: e.driver + 4 + 2 * 8)  // used_event: interrupt when used idx passes 1
        for _ in 0..<3 { try e.offer(0) }
        eq.complete(try #require(try eq.next()), written: 4)
        let fires2 = eq.needsInterrupt(); #expect(fires2, "the first decision always interrupts")
        eq.complete(try #require(try eq.next()), written: 4)
        let fires3 = eq.needsInterrupt(); #expect(fires3, "used idx 2 passed used_event 1")
        eq.complete(try #require(try eq.next()), written: 4)
        let fires4 = eq.needsInterrupt(); #expect(!fires4, "used idx 3: used_event 1 was passed already")
        let armed = eq.armNotifications(); #expect(!armed, "nothing more offered")
        #expect(try e.memory.load(UInt16.self, at: e.device + 4 + 8 * 8) == 3, "avail_event asks for a notification at the next chain")
    }

    @Test func indirectTablesAreFollowedOnlyWhenNegotiated() throws {
        var d = try RingDriver()
        try d.descriptor(0, address: 0x20000, length: 32, flags: 4)
        try d.descriptor(0, address: 0x10000, length: 16, flags: 1, next: 1, table: 0x20000)
        try d.descriptor(1, address: 0x11000, length: 8, flags: 2, table: 0x20000)
        try d.offer(0)
        try d.offer(0)
        var plain = try d.queue()
        #expect(throws: VirtioError.badIndirectTable(queue: 0, address: 0x20000, length: 32, reason: "VIRTIO_F_INDIRECT_DESC was not negotiated")) {
            try plain.next()
        }
        var q = try d.queue(features: VirtioFeature.indirectDescriptors)
        let chain = try #require(try q.next())
        #expect(chain.readable == [GuestBuffer(address: 0x10000, length: 16)] && chain.writable == [GuestBuffer(address: 0x11000, length: 8)])
    }

    @Test func whatTheGuestGetsWrongIsAnErrorNamingTheValue() throws {
        var d = try RingDriver()
        try d.descriptor(0, address: 0x10000, length: 4, flags: 1, next: 1)
        try d.descriptor(1, address: 0x10000, length: 4, flags: 1, next: 0)  // a loop
        try d.descriptor(2, address: 0xF_FFF0, length: 0x20, flags: 2)       // past the end of RAM
        try d.descriptor(3, address: 0x10000, length: 4, flags: 1, next: 9)  // next out of range
        try d.descriptor(4, address: 0x10000, length: 4, flags: 2 | 1, next: 5)
        try d.descriptor(5, address: 0x10000, length: 4, flags: 0)           // readable after writable
        for head: UInt16 in [0, 2, 3, 4, 12] { try d.offer(head) }
        var q = try d.queue()
        #expect(throws: VirtioError.chainTooLong(queue: 0, head: 0, limit: 8)) { try q.next() }
        #expect(throws: VirtioError.bufferOutsideRAM(queue: 0, address: 0xF_FFF0, length: 0x20)) { try q.next() }
        #expect(throws: VirtioError.descriptorIndexOutOfRange(queue: 0, index: 9, tableSize: 8)) { try q.next() }
        #expect(throws: VirtioError.readableAfterWritable(queue: 0, head: 4)) { try q.next() }
        #expect(throws: VirtioError.descriptorIndexOutOfRange(queue: 0, index: 12, tableSize: 8)) { try q.next() }
        try d.memory.store(UInt16(200), at: d.driver + 2)
        #expect(throws: VirtioError.availableIndexJumped(queue: 0, from: 5, to: 200, size: 8)) { try q.next() }
        #expect(throws: VirtioError.badQueueSize(queue: 0, size: 6, maximum: 256)) {
            try SplitVirtqueue(index: 0, size: 6, maximum: 256, descriptorTable: 0x1000, driverArea: 0x2000, deviceArea: 0x3000, features: 0, memory: d.memory)
        }
        #expect(throws: VirtioError.badRingAddress(queue: 0, area: "device area", address: 0x3002, bytes: 70)) {
            try SplitVirtqueue(index: 0, size: 8, maximum: 256, descriptorTable: 0x1000, driverArea: 0x2000, deviceArea: 0x3002, features: 0, memory: d.memory)
        }
        #expect(throws: VirtioError.badRingAddress(queue: 0, area: "descriptor table", address: 0xFFF80, bytes: 128 * 16)) {
            try SplitVirtqueue(index: 0, size: 128, maximum: 256, descriptorTable: 0xFFF80, driverArea: 0x2000, deviceArea: 0x3000, features: 0, memory: d.memory)
        }
    }

    /// Random descriptor tables, indirect tables and indices, as a hostile driver writes them:
    /// every chain the queue hands out lies in RAM, or the queue throws. Never a trap, never a
    /// hang. Seeds: `VMM_TEST_SEED` replays one.
    @Test(arguments: testSeeds([1, 2, 3, 0x71_0000, 0xD15C_0001]))
    func randomRingsGiveChainsInsideRAMOrAnError(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let ram: UInt64 = 1 << 20
        for round in 0..<300 {
            var d = try RingDriver(size: 1 << Int(rng.next() % 5), ram: ram)
            func address() -> UInt64 {
                switch rng.next() % 4 {
                case 0: ram - (rng.next() % 64)
                case 1: rng.next()
                default: 0x10000 + rng.next() % 0x20000
                }
            }
            for i in 0..<(d.size * 2) {
                let table = i < d.size ? nil : Optional(UInt64(0x40000))
                try d.descriptor(i % d.size, address: address(), length: UInt32(truncatingIfNeeded: rng.next() % 3 == 0 ? rng.next() : rng.next() % 0x2000),
                                 flags: UInt16(truncatingIfNeeded: rng.next() % 8), next: UInt16(truncatingIfNeeded: rng.next() % UInt64(d.size + 2)), table: table)
            }
            for _ in 0..<(1 + rng.next() % 4) { try d.offer(UInt16(truncatingIfNeeded: rng.next() % UInt64(d.size + 1))) }
            if rng.next() % 8 == 0 { try d.memory.store(UInt16(truncatingIfNeeded: rng.next()), at: d.driver + 2) }
            var q = try d.queue(features: rng.next() % 2 == 0 ? VirtioFeature.indirectDescriptors : 0)
            for _ in 0..<8 {
                do {
                    guard let chain = try q.next() else { break }
                    for buffer in chain.readable + chain.writable {
                        #expect(d.memory.contains(buffer.address, count: UInt64(buffer.length)), "seed \(seed) round \(round): \(replayHint(seed))")
                    }
                    q.complete(chain, written: UInt32(truncatingIfNeeded: chain.writableLength))
                } catch {
                    break
                }
            }
        }
    }
}
