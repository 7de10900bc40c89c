@testable import MachineDevices
import Memory
import Synchronization
import Testing
import TestSupport

/// The VT-d unit's registers: commands and status, queued invalidation, fault recording.
@Suite struct IntelIOMMUTests {
    final class Messages: Sendable {
        let sent = Mutex<[(UInt64, UInt32)]>([])
        var count: Int { sent.withLock { $0.count } }
    }

    func make(remapping: Bool = true) throws -> (IntelIOMMU, VTdTables, Messages) {
        let tables = try VTdTables()
        let messages = Messages()
        let unit = IntelIOMMU(memory: tables.memory, options: .init(interruptRemapping: remapping)) { address, data in
            messages.sent.withLock { $0.append((address, data)) }
        }
        return (unit, tables, messages)
    }

    func status(_ unit: IntelIOMMU) -> UInt32 { UInt32(unit.read(offset: 0x1C, size: 4)) }

    @Test func identityAndCapabilities() throws {
        let (unit, _, _) = try make()
        #expect(unit.read(offset: 0, size: 4) == 0x10)
        let cap = unit.read(offset: 8, size: 8)
        #expect(cap & (0b110 << 8) == 0b110 << 8, "SAGAW: 39 and 48 bits")
        #expect(cap & (0b11 << 34) == 0b11 << 34, "SLLPS: 2 MiB and 1 GiB")
        #expect((cap >> 24) & 0x3FF == 0x22, "fault record at 0x220")
        #expect(unit.read(offset: 8, size: 4) | unit.read(offset: 12, size: 4) << 32 == cap, "two dword reads make the qword")
        let ecap = unit.read(offset: 0x10, size: 8)
        #expect(ecap & 0b1010 == 0b1010, "QI and IR")
        #expect((ecap >> 8) & 0x3FF == 0x20, "IOTLB registers at 0x200")
        let (plain, _, _) = try make(remapping: false)
        #expect(plain.read(offset: 0x10, size: 8) & 0b1000 == 0, "no IR without intremap")
        #expect(unit.read(offset: 0x1C, size: 2) == 0, "2-byte accesses read 0")
    }

    @Test func commandsSetTheirStatus() throws {
        let (unit, tables, _) = try make()
        unit.write(offset: 0x20, size: 8, value: tables.root)
        unit.write(offset: 0x18, size: 4, value: UInt64(1 << 30))  // SRTP
        #expect(status(unit) == 1 << 30, "RTPS")
        for bit: UInt32 in [1 << 26, 1 << 31] {
            unit.write(offset: 0x18, size: 4, value: UInt64(status(unit) | bit))
            #expect(status(unit) & bit != 0)
        }
        unit.write(offset: 0xB8, size: 8, value: 0x20_0000 | 0xF)
        unit.write(offset: 0x18, size: 4, value: UInt64(status(unit) | 1 << 24))
        unit.write(offset: 0x18, size: 4, value: UInt64(status(unit) | 1 << 25))
        let all: UInt32 = 1 << 31 | 1 << 30 | 1 << 26 | 1 << 25 | 1 << 24
        #expect(status(unit) == all, "TE, RTPS, QIES, IRES, IRTPS")
        unit.write(offset: 0x18, size: 4, value: UInt64(status(unit) & ~(1 << 31)))
        #expect(status(unit) & (1 << 31) == 0, "TE off again")
        // Context-cache and IOTLB invalidations complete at once, reporting the granularity asked.
        unit.write(offset: 0x28, size: 8, value: 1 << 63 | 1 << 61)
        #expect(unit.read(offset: 0x28, size: 8) == 1 << 61 | 1 << 59)
        unit.write(offset: 0x208, size: 8, value: 1 << 63 | 2 << 60)
        #expect(unit.read(offset: 0x208, size: 8) == 2 << 60 | 2 << 57)
        let (plain, _, _) = try make(remapping: false)
        plain.write(offset: 0x18, size: 4, value: UInt64(1 << 25 | 1 << 24))
        #expect(plain.read(offset: 0x1C, size: 4) == 0, "no IR to enable without intremap")
    }

    @Test func translationFollowsTheLatchedRootTable() throws {
        let (unit, emptyTables, _) = try make()
        var tables = emptyTables
        let top = try tables.context(sid: 0x18)
        try tables.map(0, to: 0x8000, top: top)
        #expect(unit.translateDMA(0x10, sid: 0x18, write: true)?.address == 0x10, "translation off: identity")
        unit.write(offset: 0x20, size: 8, value: tables.root)
        unit.write(offset: 0x18, size: 4, value: UInt64(1 << 31))
        #expect(unit.translateDMA(0x10, sid: 0x18, write: true) == nil, "no root table latched: the zero page holds no root entry")
        unit.write(offset: 0x18, size: 4, value: UInt64(1 << 31 | 1 << 30))
        #expect(unit.translateDMA(0x10, sid: 0x18, write: true)?.address == 0x8010)
        try tables.ram.store(UInt32(0x1234_5678), at: 0x8000)
        #expect(unit.dmaRead(sid: 0x18, from: 0, count: 4) == [0x78, 0x56, 0x34, 0x12])
        #expect(unit.dmaWrite(sid: 0x18, [9, 9], to: 0xFFF) == false, "crosses into an unmapped page")
        #expect(try tables.ram.load(UInt8.self, at: 0x8FFF) == 9, "the mapped part was written")
    }

    @Test func faultsAreRecordedOnceAndSignalledWhenUnmasked() throws {
        let (unit, emptyTables, messages) = try make()
        var tables = emptyTables
        _ = try tables.context(sid: 0x18)
        unit.write(offset: 0x20, size: 8, value: tables.root)
        unit.write(offset: 0x18, size: 4, value: UInt64(1 << 31 | 1 << 30))
        unit.write(offset: 0x3C, size: 4, value: 0x45)       // FEDATA
        unit.write(offset: 0x40, size: 4, value: 0xFEE0_0000)  // FEADDR
        #expect(unit.translateDMA(0x5000, sid: 0x18, write: true) == nil)
        #expect(unit.read(offset: 0x34, size: 4) & 2 != 0, "FSTS.PPF")
        let high = unit.read(offset: 0x228, size: 8)
        #expect(high >> 63 == 1 && (high >> 32) & 0xFF == 5 && high & 0xFFFF == 0x18 && (high >> 62) & 1 == 0, "F, write fault, SID")
        #expect(unit.read(offset: 0x220, size: 8) == 0x5000)
        #expect(messages.count == 0 && unit.read(offset: 0x38, size: 4) == 0xC000_0000, "masked: IP set")
        #expect(unit.translateDMA(0x6000, sid: 0x18, write: false) == nil)
        #expect(unit.read(offset: 0x34, size: 4) & 1 != 0, "second fault with the record full: PFO")
        unit.write(offset: 0x38, size: 4, value: 0)
        #expect(messages.sent.withLock { $0.first.map { $0 == (0xFEE0_0000, 0x45) } } == true, "unmasking sends the pending event")
        unit.write(offset: 0x22C, size: 4, value: 1 << 31)
        unit.write(offset: 0x34, size: 4, value: 1)
        #expect(unit.read(offset: 0x34, size: 4) == 0, "F and PFO cleared by writing 1")
        _ = try tables.context(sid: 0x20, quiet: true)
        #expect(unit.translateDMA(0, sid: 0x20, write: false) == nil)
        #expect(unit.read(offset: 0x34, size: 4) == 0, "FPD: not recorded")
    }

    @Test func invalidationQueueServesWaitsAndStopsAtUnknownDescriptors() throws {
        let (unit, tables, messages) = try make()
        let queue: UInt64 = 0x30_0000
        unit.write(offset: 0x90, size: 8, value: queue)  // 256 entries
        unit.write(offset: 0x18, size: 4, value: UInt64(1 << 26))
        try tables.ram.store(UInt64(1), at: queue)  // context-cache invalidation
        try tables.ram.store(UInt64(0xABCD) << 32 | 1 << 5 | 1 << 4 | 5, at: queue + 16)  // wait: status write and interrupt
        try tables.ram.store(UInt64(0x40_0000), at: queue + 24)
        unit.write(offset: 0xA4, size: 4, value: 0x66)
        unit.write(offset: 0xA8, size: 4, value: 0xFEE0_0000)
        unit.write(offset: 0xA0, size: 4, value: 0)  // unmask the invalidation event
        unit.write(offset: 0x88, size: 8, value: 32)
        #expect(unit.read(offset: 0x80, size: 8) == 32, "IQH reached IQT")
        #expect(try tables.ram.load(UInt32.self, at: 0x40_0000) == 0xABCD, "status written")
        #expect(unit.read(offset: 0x9C, size: 4) == 1, "ICS.IWC")
        #expect(messages.sent.withLock { $0.contains { $0 == (0xFEE0_0000, 0x66) } })
        try tables.ram.store(UInt64(0xF), at: queue + 32)
        unit.write(offset: 0x88, size: 8, value: 48)
        #expect(unit.read(offset: 0x34, size: 4) & (1 << 4) != 0, "IQE")
        #expect(unit.read(offset: 0x80, size: 8) == 32, "IQH stays at the bad descriptor")
        #expect(unit.read(offset: 0x38, size: 4) == 0xC000_0000, "IQE raised the (masked) fault event: IP")
        try tables.ram.store(UInt64(2), at: queue + 32)  // software fixes the descriptor
        unit.write(offset: 0x34, size: 4, value: 1 << 4)  // and clears IQE
        #expect(unit.read(offset: 0x80, size: 8) == 48, "the queue went on without another IQT write")
        unit.write(offset: 0x18, size: 4, value: 0)
        #expect(unit.read(offset: 0x80, size: 8) == 0, "disabling QI resets IQH")
    }

    /// Any register traffic (guest-controlled): no crash, and the unit keeps answering.
    @Test(arguments: testSeeds([21, 22, 23]))
    func randomRegisterTraffic(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let (unit, tables, _) = try make()
        for _ in 0..<4096 {
            let at = (random.next() % (4 << 20)) & ~7
            try tables.ram.store(random.next() % 2 == 0 ? random.next() : random.next() & 0x3F_FFFF, at: at)
        }
        let offsets: [UInt64] = [0x18, 0x20, 0x24, 0x28, 0x2C, 0x34, 0x38, 0x80, 0x88, 0x8C, 0x90, 0x9C, 0xA0, 0xB8, 0x208, 0x22C]
        for _ in 0..<50_000 {
            let offset = random.next() % 4 == 0 ? random.next() % 0x1100 : offsets[Int(random.next() % UInt64(offsets.count))]
            let size = [1, 2, 4, 8][Int(random.next() % 4)]
            if random.next() % 3 == 0 {
                _ = unit.read(offset: offset, size: size)
            } else {
                unit.write(offset: offset, size: size, value: random.next() % 2 == 0 ? random.next() : random.next() & 0x3F_FFFF)
            }
            if random.next() % 8 == 0 {
                _ = unit.dmaRead(sid: UInt16(truncatingIfNeeded: random.next()), from: random.next() % (1 << 22), count: Int(random.next() % 8192))
                _ = unit.remapInterrupt(address: 0xFEE0_0000 | random.next() & 0xFFFFF, data: UInt32(truncatingIfNeeded: random.next()),
                                        sid: UInt16(truncatingIfNeeded: random.next()))
            }
        }
        #expect(unit.read(offset: 0, size: 4) == 0x10, "\(replayHint(seed))")
    }
}
