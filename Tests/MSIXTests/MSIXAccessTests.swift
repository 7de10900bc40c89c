import MSIX
import Testing

@Suite("Table and PBA accesses")
struct MSIXAccessTests {
    @Test("table dwords read back as written; entries start at address 0, data 0, masked")
    func tableReadBack() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        for v in 0..<16 {
            #expect(device.read(bar: bar, offset: UInt64(16 * v), size: 8) == 0)
            #expect(device.read(bar: bar, offset: UInt64(16 * v + 8), size: 8) == 1 << 32)
        }
        device.program(15, MSIXMessage(address: 0x1234_5678_9ABC_DEF0, data: 0xCAFE_F00D))
        #expect(device.read(bar: bar, offset: 0xF0, size: 4) == 0x9ABC_DEF0)
        #expect(device.read(bar: bar, offset: 0xF4, size: 4) == 0x1234_5678)
        #expect(device.read(bar: bar, offset: 0xF8, size: 4) == 0xCAFE_F00D)
        #expect(device.read(bar: bar, offset: 0xFC, size: 4) == 1)
        #expect(device.read(bar: bar, offset: 0xF0, size: 8) == 0x1234_5678_9ABC_DEF0)
        #expect(device.counters.invalidAccesses == 0)
    }

    @Test("8-byte accesses act as two 4-byte halves, low half first, with one commit")
    func eightByteHalves() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        try device.setNotifiers(sink, poll: false)
        device.setControl(enable: true)
        device.program(1, msg(1))
        device.setMask(1, false)
        _ = sink.take()
        // Address low and high change in one 8-byte write: two release/use pairs, low half first.
        device.write(bar: bar, offset: 16, size: 8, value: 0x0000_0002_FEE0_5000)
        let afterLow = MSIXMessage(address: 0xFEE0_5000, data: msg(1).data)
        let afterHigh = MSIXMessage(address: 0x2_FEE0_5000, data: msg(1).data)
        #expect(sink.take() == [.release(1), .use(1, afterLow), .release(1), .use(1, afterHigh), .commit])
        // Data and Vector Control in one write: the data change first, then the mask.
        device.write(bar: bar, offset: 24, size: 8, value: 1 << 32 | 0x55)
        let newData = MSIXMessage(address: 0x2_FEE0_5000, data: 0x55)
        #expect(sink.take() == [.release(1), .use(1, newData), .release(1), .commit])
        #expect(device.read(bar: bar, offset: 24, size: 8) == 1 << 32 | 0x55)
        // Unmask with a pending raise through an 8-byte write of data + control.
        device.notify(vector: 1)
        device.write(bar: bar, offset: 24, size: 8, value: 0x55)
        #expect(sink.take() == [.use(1, newData), .send(1, newData), .commit])
        #expect(sink.violations.isEmpty)
    }

    @Test("PBA writes are ignored and counted")
    func pbaWritesIgnored() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        device.notify(vector: 3)
        let pba = device.layout.pba.offset
        device.write(bar: bar, offset: pba, size: 4, value: 0)
        device.write(bar: bar, offset: pba, size: 8, value: UInt64.max)
        device.write(bar: bar, offset: pba + 4, size: 4, value: 0xFFFF_FFFF)
        #expect(device.read(bar: bar, offset: pba, size: 8) == 0b1000)
        #expect(device.counters.pbaWritesIgnored == 3)
        #expect(sink.take().isEmpty)
    }

    @Test("invalid sizes read all ones, drop writes and are counted", arguments: [0, 1, 2, 3, 5, 6, 7, 9, 16, -1, Int.max, Int.min])
    func invalidSizes(size: Int) throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        let ones: UInt64 = size >= 1 && size < 8 ? (1 << UInt64(8 * size)) - 1 : UInt64.max
        #expect(device.read(bar: bar, offset: 0, size: size) == ones)
        #expect(device.read(bar: bar, offset: device.layout.pba.offset, size: size) == ones)
        device.write(bar: bar, offset: 12, size: size, value: 0)   // would unmask vector 0
        #expect(device.read(bar: bar, offset: 12, size: 4) == 1)
        #expect(device.counters.badAccessSize == 3)
        #expect(device.counters.misalignedAccess == 0 && device.counters.outsideTableAndPBA == 0)
    }

    @Test("misaligned 4- and 8-byte accesses read all ones, drop writes and are counted")
    func misaligned() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        #expect(device.read(bar: bar, offset: 2, size: 4) == 0xFFFF_FFFF)
        #expect(device.read(bar: bar, offset: 4, size: 8) == UInt64.max)
        #expect(device.read(bar: bar, offset: device.layout.pba.offset + 4, size: 8) == UInt64.max)
        #expect(device.read(bar: bar, offset: UInt64.max, size: 4) == 0xFFFF_FFFF)
        device.write(bar: bar, offset: 13, size: 4, value: 0)
        device.write(bar: bar, offset: 28, size: 8, value: 0)
        #expect(device.read(bar: bar, offset: 28, size: 4) == 1)
        #expect(device.counters.misalignedAccess == 6)
    }

    @Test("accesses outside the table and the PBA read all ones, drop writes and are counted")
    func outside() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)  // table 0x0–0xFF, PBA 0x800–0x807, BAR 4 KiB
        let outsideOffsets: [UInt64] = [0x100, 0x7F8, 0x808, 0xFF8, 0x1000, 1 << 40, UInt64.max - 7]
        for offset in outsideOffsets {
            #expect(device.read(bar: bar, offset: offset, size: 4) == 0xFFFF_FFFF)
            #expect(device.read(bar: bar, offset: offset, size: 8) == UInt64.max)
            device.write(bar: bar, offset: offset, size: 8, value: 0)
        }
        // Another BAR, same offsets.
        for other in [0, 2, 5, -1, 6, Int.max] {
            #expect(device.read(bar: other, offset: 0, size: 4) == 0xFFFF_FFFF)
            device.write(bar: other, offset: 12, size: 4, value: 0)
        }
        #expect(device.isMasked(vector: 0))
        #expect(device.read(bar: bar, offset: 12, size: 4) == 1)
        #expect(device.counters.outsideTableAndPBA == UInt64(outsideOffsets.count * 3 + 12))
        #expect(device.holdsStructure(bar: 1) && !device.holdsStructure(bar: 0))
    }

    @Test("table and PBA in different BARs are reached through their own BARs")
    func separateBARs() throws {
        let sink = TestSink()
        let layout = try MSIXLayout(vectorCount: 8, table: MSIXPlacement(bar: 2, offset: 0x100), tableBARSize: 4096,
                                    pba: MSIXPlacement(bar: 4, offset: 0x10), pbaBARSize: 4096)
        let device = try MSIXDevice(layout: layout, capabilityOffset: 0x40, initialUseCount: 1, sink: sink)
        #expect(device.capabilityRead(offset: 4, size: 4) == 0x102)
        #expect(device.capabilityRead(offset: 8, size: 4) == 0x14)
        device.notify(vector: 7)
        #expect(device.read(bar: 4, offset: 0x10, size: 4) == 0x80)
        #expect(device.read(bar: 2, offset: 0x10, size: 4) == 0xFFFF_FFFF)   // no PBA in BAR 2
        #expect(device.read(bar: 2, offset: 0x100 + 7 * 16 + 12, size: 4) == 1)
        #expect(device.read(bar: 4, offset: 0x100, size: 4) == 0xFFFF_FFFF)  // no table in BAR 4
    }

    @Test("Vector Control keeps bit 0 only; reserved bits read 0")
    func vectorControlReservedBits() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        device.write(bar: bar, offset: 12, size: 4, value: 0xFFFF_FFFF)
        #expect(device.read(bar: bar, offset: 12, size: 4) == 1)
        #expect(device.isMasked(vector: 0))
        device.setControl(enable: true)
        device.write(bar: bar, offset: 12, size: 4, value: 0xFFFF_FFFE)
        #expect(device.read(bar: bar, offset: 12, size: 4) == 0)
        #expect(!device.isMasked(vector: 0))
        device.write(bar: bar, offset: 8, size: 8, value: 0xFFFF_FFF1_0000_0000)
        #expect(device.read(bar: bar, offset: 8, size: 8) == 1 << 32)
        #expect(device.isMasked(vector: 0))
    }

    @Test("poll range (difference 3): vectors [8·o, min(8·(o + size), n)), and no call when empty")
    func pollRange() throws {
        let sink = TestSink()
        let d16 = try makeDevice(16, sink: sink)
        try d16.setNotifiers(sink, poll: true)
        #expect(sink.take() == [.poll(0, 16)])
        _ = d16.read(bar: bar, offset: 0x800, size: 4)
        #expect(sink.take() == [.poll(0, 16)])
        _ = d16.read(bar: bar, offset: 0x804, size: 4)  // [32, 16): empty
        #expect(sink.take().isEmpty)
        _ = d16.read(bar: bar, offset: 0x800, size: 8)  // the last (only) qword: low half polls, high half is empty
        #expect(sink.take() == [.poll(0, 16)])

        let d100 = try makeDevice(100, sink: sink)
        try d100.setNotifiers(sink, poll: true)
        #expect(sink.take() == [.poll(0, 100)])
        for (offset, first, end) in [(0x800, 0, 32), (0x804, 32, 64), (0x808, 64, 96), (0x80C, 96, 100)] {
            _ = d100.read(bar: bar, offset: UInt64(offset), size: 4)
            #expect(sink.take() == [.poll(first, end)])
        }
        _ = d100.read(bar: bar, offset: 0x808, size: 8)  // the last qword
        #expect(sink.take() == [.poll(64, 96), .poll(96, 100)])

        let d65 = try makeDevice(65, sink: sink)
        try d65.setNotifiers(sink, poll: true)
        _ = sink.take()
        _ = d65.read(bar: bar, offset: 0x808, size: 8)  // the last qword holds vector 64 only
        #expect(sink.take() == [.poll(64, 65)])
        #expect(sink.violations.isEmpty)
    }

    @Test("PBA reads poll first, so events found by the poll show in the same read")
    func pollBeforeRead() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        sink.onPoll = { first, end, device in
            for v in first..<end where v == 3 && device.isMasked(vector: v) { device.setPending(vector: v) }
        }
        try device.setNotifiers(sink, poll: false)
        #expect(device.read(bar: bar, offset: 0x800, size: 4) == 0)   // no poll notifier
        #expect(sink.take().isEmpty)
        device.unsetNotifiers()
        try device.setNotifiers(sink, poll: true)                     // poll(0, 16) already finds it
        #expect(device.isPending(vector: 3))
        #expect(device.read(bar: bar, offset: 0x800, size: 4) == 0b1000)
        device.setPending(vector: 16)
        device.setPending(vector: -1)
        #expect(device.counters.outOfRangeVectors == 2)
    }
}
