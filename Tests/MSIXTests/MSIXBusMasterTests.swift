import MSIX
import Testing

@Suite("Bus Master Enable: a function with BME clear sends nothing")
struct MSIXBusMasterTests {
    /// n vectors programmed with msg(v), notifiers set, MSI-X enabled; vectors 0 and 1 unmasked.
    func device(_ n: Int = 4, sink: TestSink) throws -> MSIXDevice {
        let device = try makeDevice(n, sink: sink)
        try device.setNotifiers(sink, poll: false)
        for v in 0..<n { device.program(v, msg(v)) }
        device.setControl(enable: true)
        device.setMask(0, false)
        device.setMask(1, false)
        _ = sink.take()
        return device
    }

    @Test("clearing BME releases the vectors in use; raises are dropped, not pended")
    func clearingReleasesAndDrops() throws {
        let sink = TestSink()
        let device = try device(sink: sink)
        device.setBusMaster(enabled: false)
        #expect(sink.take() == [.release(0), .release(1), .commit])
        #expect(device.notify(vector: 0) == .droppedBusMaster)
        #expect(device.notify(vector: 2) == .droppedBusMaster, "a masked vector is not pended either")
        #expect(!device.isPending(vector: 0) && !device.isPending(vector: 2))
        #expect(device.counters.notifyDroppedBusMaster == 2)
        #expect(sink.take().isEmpty, "nothing sent")
        #expect(!device.isMasked(vector: 0), "the guest-visible mask state does not change")
        device.setBusMaster(enabled: false)
        #expect(sink.take().isEmpty, "no change, no notifier")
    }

    @Test("unmasking while BME is clear routes nothing; setting BME uses, then delivers pending")
    func settingDeliversPending() throws {
        let sink = TestSink()
        let device = try device(sink: sink)
        #expect(device.notify(vector: 3) == .pended, "masked, BME set: pended")
        device.setBusMaster(enabled: false)
        _ = sink.take()
        device.setMask(3, false)
        device.setControl(enable: true, maskAll: true)
        device.setControl(enable: true, maskAll: false)
        #expect(sink.take().isEmpty, "mask changes while BME is clear fire nothing")
        #expect(device.isPending(vector: 3), "the pending bit survives")
        device.setBusMaster(enabled: true)
        #expect(sink.take() == [.use(0, msg(0)), .use(1, msg(1)), .use(3, msg(3)), .send(3, msg(3)), .commit])
        #expect(!device.isPending(vector: 3))
        #expect(device.notify(vector: 0) == .sent)
        #expect(sink.violations.isEmpty, "\(sink.violations)")
    }

    @Test("setting notifiers or restoring a snapshot while BME is clear uses no vector")
    func notifiersAndRestoreRespectBME() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        for v in 0..<4 { device.program(v, msg(v)); device.setMask(v, false) }
        device.setControl(enable: true)
        device.setBusMaster(enabled: false)
        try device.setNotifiers(sink, poll: false)
        #expect(sink.take().isEmpty)
        let snapshot = device.snapshot()
        device.reset()
        try device.restore(snapshot)
        #expect(sink.take().filter { if case .use = $0 { true } else { false } }.isEmpty)
        device.setBusMaster(enabled: true)
        #expect(sink.take() == [.use(0, msg(0)), .use(1, msg(1)), .use(2, msg(2)), .use(3, msg(3)), .commit])
        #expect(sink.violations.isEmpty, "\(sink.violations)")
    }
}
