import MSIX
import Testing

@Suite("Use counts")
struct MSIXVectorUseTests {
    @Test("use counts: use/unuse count, unuse to 0 clears pending, raises on unused vectors are dropped")
    func useCounts() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink, used: 0)
        #expect(device.useCount(vector: 2) == 0)
        #expect(device.notify(vector: 2) == .droppedUnused)
        #expect(device.use(vector: 2))
        #expect(device.use(vector: 2))
        #expect(device.useCount(vector: 2) == 2)
        #expect(device.notify(vector: 2) == .pended)
        #expect(device.unuse(vector: 2))
        #expect(device.isPending(vector: 2))          // count 1: pending stays
        #expect(device.unuse(vector: 2))
        #expect(device.useCount(vector: 2) == 0)
        #expect(!device.isPending(vector: 2))         // count 0: pending cleared
        #expect(device.unuse(vector: 2))              // already 0: stays 0
        #expect(device.useCount(vector: 2) == 0)
        #expect(device.notify(vector: 2) == .droppedUnused)
    }

    @Test("use counts: unuse-all zeroes every count and clears every pending bit")
    func unuseAll() throws {
        let sink = TestSink()
        let device = try makeDevice(130, sink: sink, used: 3)
        for v in [0, 64, 129] { device.notify(vector: v) }
        device.unuseAll()
        for v in [0, 64, 129] {
            #expect(device.useCount(vector: v) == 0)
            #expect(!device.isPending(vector: v))
        }
        #expect(device.read(bar: bar, offset: device.layout.pba.offset, size: 8) == 0)
    }

    @Test("use counts: out-of-range vectors are refused and counted; counts saturate")
    func outOfRange() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink, used: UInt32.max)
        #expect(!device.use(vector: 4))
        #expect(!device.unuse(vector: -1))
        #expect(!device.use(vector: Int.max))
        #expect(device.useCount(vector: 4) == 0)
        #expect(device.counters.outOfRangeVectors == 3)
        #expect(device.use(vector: 0))
        #expect(device.useCount(vector: 0) == UInt32.max)
    }

    @Test("use counts are independent of the notifiers and survive reset")
    func independentOfNotifiers() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink, used: 0)
        try device.setNotifiers(sink, poll: false)
        device.setControl(enable: true)
        device.setMask(0, false)
        #expect(sink.take() == [.use(0, MSIXMessage(address: 0, data: 0)), .commit])
        device.use(vector: 1)
        device.reset()
        #expect(device.useCount(vector: 1) == 1)
        #expect(sink.take() == [.release(0), .commit])
    }
}
