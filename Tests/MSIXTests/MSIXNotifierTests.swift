import MSIX
import Testing

@Suite("Notifiers: balance, set/unset, rollback, failures")
struct MSIXNotifierTests {
    /// n vectors programmed with msg(v), MSI-X enabled, the listed vectors unmasked, no notifiers.
    func device(_ n: Int = 4, unmasked: [Int], sink: TestSink) throws -> MSIXDevice {
        let device = try makeDevice(n, sink: sink)
        for v in 0..<n { device.program(v, msg(v)) }
        for v in unmasked { device.setMask(v, false) }
        device.setControl(enable: true)
        _ = sink.take()
        return device
    }

    @Test("set-notifiers fires use for vectors unmasked at that time, ascending, then poll(0, n), then commits")
    func setNotifiers() throws {
        let sink = TestSink()
        let device = try device(unmasked: [3, 1], sink: sink)
        try device.setNotifiers(sink, poll: true)
        #expect(sink.take() == [.use(1, msg(1)), .use(3, msg(3)), .poll(0, 4), .commit])
        #expect(device.hasNotifiers)
        #expect(device.isUseNotified(vector: 1) && device.isUseNotified(vector: 3) && !device.isUseNotified(vector: 0))
    }

    @Test("set-notifiers on a function-masked device fires no use; without poll it polls nothing")
    func setNotifiersMasked() throws {
        let sink = TestSink()
        let device = try device(unmasked: [0], sink: sink)
        device.setControl(enable: true, maskAll: true)
        _ = sink.take()
        try device.setNotifiers(sink, poll: true)
        #expect(sink.take() == [.poll(0, 4)])
        device.unsetNotifiers()
        #expect(sink.take().isEmpty)
        try device.setNotifiers(sink, poll: false)
        #expect(sink.take().isEmpty)
    }

    @Test("set-notifiers twice is refused")
    func setNotifiersTwice() throws {
        let sink = TestSink()
        let device = try device(unmasked: [0], sink: sink)
        try device.setNotifiers(sink, poll: false)
        _ = sink.take()
        #expect(throws: MSIXError.notifiersAlreadySet) { try device.setNotifiers(TestSink(), poll: true) }
        #expect(MSIXError.notifiersAlreadySet.description == "MSI-X vector notifiers are already set")
        #expect(sink.take().isEmpty)
    }

    @Test("set-notifiers rollback: a failing use releases the vectors already used (descending), commits, and leaves no notifiers")
    func setNotifiersRollback() throws {
        let sink = TestSink()
        sink.failUse = { $0 == 2 }
        let device = try device(unmasked: [0, 1, 2, 3], sink: sink)
        var thrown: MSIXError?
        do { try device.setNotifiers(sink, poll: true) } catch { thrown = error }
        #expect(thrown == .useNotifierFailed(vector: 2, reason: "route table full"))
        #expect(thrown?.description == "MSI-X use notifier failed for vector 2: route table full; notifiers not set")
        #expect(sink.take() == [.use(0, msg(0)), .use(1, msg(1)), .useFailed(2), .release(1), .release(0), .commit])
        #expect(!device.hasNotifiers)
        #expect(sink.active.isEmpty)
        for v in 0..<4 { #expect(!device.isUseNotified(vector: v)) }
        // Without notifiers, mask changes call nothing on them; raises still go out.
        device.setMask(1, true)
        device.setMask(1, false)
        #expect(device.notify(vector: 1) == .sent)
        #expect(sink.take() == [.send(1, msg(1))])
        // A later attempt can succeed.
        sink.failUse = { _ in false }
        try device.setNotifiers(sink, poll: false)
        #expect(sink.take() == [.use(0, msg(0)), .use(1, msg(1)), .use(2, msg(2)), .use(3, msg(3)), .commit])
        #expect(sink.violations.isEmpty)
    }

    @Test("unset-notifiers releases the vectors in use, ascending, commits once, and forgets the notifiers")
    func unsetNotifiers() throws {
        let sink = TestSink()
        let device = try device(unmasked: [2, 0], sink: sink)
        try device.setNotifiers(sink, poll: true)
        _ = sink.take()
        device.unsetNotifiers()
        #expect(sink.take() == [.release(0), .release(2), .commit])
        #expect(!device.hasNotifiers)
        device.setMask(2, true)
        device.setMask(2, false)
        _ = device.read(bar: bar, offset: device.layout.pba.offset, size: 4)  // no poll either
        #expect(sink.take().isEmpty)
        device.unsetNotifiers()  // twice: nothing
        #expect(sink.take().isEmpty)
        #expect(sink.violations.isEmpty)
    }

    @Test("balanced notifiers across disable, reset, restore and unset: every use is released once before the next use")
    func balancedEverywhere() throws {
        let sink = TestSink()
        let device = try device(unmasked: [0, 1], sink: sink)
        try device.setNotifiers(sink, poll: false)
        let saved = device.snapshot()
        device.setControl(enable: false)
        device.setControl(enable: true)
        device.reset()
        try device.restore(saved)
        try device.restore(saved)
        device.setControl(enable: true, maskAll: true)
        device.setControl(enable: true, maskAll: false)
        device.unsetNotifiers()
        try device.setNotifiers(sink, poll: false)
        device.reset()
        #expect(sink.violations.isEmpty)
        #expect(sink.active.isEmpty)
        let uses = sink.calls.filter { if case .use = $0 { return true } else { return false } }.count
        let releases = sink.calls.filter { if case .release = $0 { return true } else { return false } }.count
        #expect(uses == releases)
        #expect(uses == 12)
    }

    @Test("reset releases only vectors in use (ascending), once, and commits once")
    func resetReleases() throws {
        let sink = TestSink()
        let device = try device(8, unmasked: [5, 2], sink: sink)
        try device.setNotifiers(sink, poll: false)
        _ = sink.take()
        device.reset()
        #expect(sink.take() == [.release(2), .release(5), .commit])
        device.reset()
        #expect(sink.take().isEmpty)
    }

    @Test("a failing use notifier at unmask leaves the vector on the send path, is counted and reported, and never aborts")
    func useFailureAtUnmask() throws {
        let sink = TestSink()
        let device = try device(unmasked: [], sink: sink)
        try device.setNotifiers(sink, poll: false)
        sink.failUse = { $0 == 1 }
        device.notify(vector: 1)
        device.setMask(1, false)
        #expect(sink.take() == [.useFailed(1), .send(1, msg(1)), .commit])
        #expect(device.counters.useNotifierFailures == 1)
        #expect(device.lastUseFailure == MSIXUseFailure(vector: 1, reason: "route table full"))
        #expect(!device.isUseNotified(vector: 1))
        #expect(!device.isMasked(vector: 1))
        #expect(device.notify(vector: 1) == .sent)
        #expect(sink.take() == [.send(1, msg(1))])
        // Masking it releases nothing (nothing was used).
        device.setMask(1, true)
        #expect(sink.take().isEmpty)
        // A message change while unmasked tries again (nothing to release first).
        device.setMask(1, false)
        sink.failUse = { _ in false }
        device.write(bar: bar, offset: 16 + 8, size: 4, value: 0x77)
        let changed = MSIXMessage(address: msg(1).address, data: 0x77)
        #expect(sink.take() == [.useFailed(1), .commit, .use(1, changed), .commit])
        #expect(device.isUseNotified(vector: 1))
        #expect(device.counters.useNotifierFailures == 2)
        #expect(sink.violations.isEmpty)
        device.resetCounters()
        #expect(device.counters == MSIXCounters())
        #expect(device.lastUseFailure == nil)
    }
}
