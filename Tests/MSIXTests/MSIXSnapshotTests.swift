import MSIX
import Testing

@Suite("Reset, snapshot and restore")
struct MSIXSnapshotTests {
    @Test("reset clears table (address 0, data 0, masked), PBA and Message Control; keeps notifiers and use counts")
    func reset() throws {
        let sink = TestSink()
        let device = try makeDevice(8, sink: sink)
        try device.setNotifiers(sink, poll: false)
        for v in 0..<8 { device.program(v, msg(v)); device.setMask(v, v % 2 == 0) }
        device.setControl(enable: true, maskAll: true)
        device.notify(vector: 3)
        device.reset()
        #expect(!device.isEnabled && !device.isFunctionMaskSet)
        #expect(device.capabilityRead(offset: 2, size: 2) == 7)
        for v in 0..<8 {
            #expect(device.message(vector: v) == MSIXMessage(address: 0, data: 0))
            #expect(device.read(bar: bar, offset: UInt64(16 * v + 12), size: 4) == 1)
            #expect(!device.isPending(vector: v))
            #expect(device.useCount(vector: v) == 1)
        }
        #expect(device.hasNotifiers)
        _ = sink.take()
        device.setControl(enable: true)
        device.setMask(4, false)
        #expect(sink.take() == [.use(4, MSIXMessage(address: 0, data: 0)), .commit])
    }

    @Test("snapshot/restore: round trip restores table, pending bits, Enable and Function Mask")
    func roundTrip() throws {
        let sink = TestSink()
        let device = try makeDevice(70, sink: sink)
        for v in 0..<70 { device.program(v, msg(v)) }
        device.setMask(5, false)
        device.setControl(enable: true, maskAll: true)
        for v in [1, 5, 64, 69] { device.notify(vector: v) }
        let saved = device.snapshot()
        #expect(saved.vectorCount == 70)
        #expect(saved.tableDwords.count == 280)
        #expect(saved.pendingQwords == [0b10_0010, 1 | 1 << 5])
        #expect(saved.enable && saved.functionMask)
        device.reset()
        #expect(device.snapshot() != saved)
        try device.restore(saved)
        #expect(device.snapshot() == saved)
        #expect(sink.take().isEmpty)  // function masked: nothing to use or deliver
        // The snapshot kept its own copy.
        device.program(0, msg(99))
        #expect(saved.tableDwords[2] == msg(0).data)
    }

    @Test("snapshot/restore: releases vectors in use, applies, then per unmasked vector ascending use then pending delivery")
    func restoreOrder() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        try device.setNotifiers(sink, poll: false)
        for v in 0..<4 { device.program(v, msg(v)) }
        device.setMask(3, false)
        device.setControl(enable: true)
        _ = sink.take()
        // A snapshot with vectors 0 and 2 unmasked, pending bits on 1 (masked), 2 (unmasked, used)
        // and 0 (unmasked, but unused now: dropped).
        var saved = device.snapshot()
        saved.tableDwords[3] = 0
        saved.tableDwords[11] = 0
        saved.tableDwords[15] = 1
        saved.pendingQwords = [0b0111]
        device.unuse(vector: 0)
        try device.restore(saved)
        #expect(sink.take() == [.release(3), .use(0, msg(0)), .use(2, msg(2)), .send(2, msg(2)), .commit])
        #expect(device.isPending(vector: 1))
        #expect(!device.isPending(vector: 0) && !device.isPending(vector: 2))
        #expect(device.counters.pendingDropped == 1)
        #expect(device.counters.pendingDelivered == 1)
        #expect(sink.violations.isEmpty)
    }

    @Test("snapshot/restore: reserved bits of a snapshot are dropped")
    func restoreSanitises() throws {
        let sink = TestSink()
        let device = try makeDevice(3, sink: sink)
        var saved = device.snapshot()
        saved.tableDwords[3] = 0xFFFF_FFFE
        saved.pendingQwords = [UInt64.max]
        try device.restore(saved)
        #expect(device.read(bar: bar, offset: 12, size: 4) == 0)
        #expect(device.read(bar: bar, offset: device.layout.pba.offset, size: 8) == 0b111)
    }

    @Test("snapshot/restore: a snapshot of another shape is refused and changes nothing")
    func restoreMismatch() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        let other = try makeDevice(8, sink: sink)
        device.notify(vector: 1)
        let before = device.snapshot()
        #expect(throws: MSIXError.snapshotMismatch(what: "vectors", expected: 4, actual: 8)) { try device.restore(other.snapshot()) }
        #expect(MSIXError.snapshotMismatch(what: "vectors", expected: 4, actual: 8).description
                == "MSI-X snapshot has 8 vectors, this function has 4")
        var short = before
        short.tableDwords.removeLast()
        #expect(throws: MSIXError.snapshotMismatch(what: "table dwords", expected: 16, actual: 15)) { try device.restore(short) }
        var long = before
        long.pendingQwords.append(0)
        #expect(throws: MSIXError.snapshotMismatch(what: "pending qwords", expected: 1, actual: 2)) { try device.restore(long) }
        #expect(device.snapshot() == before)
    }
}
