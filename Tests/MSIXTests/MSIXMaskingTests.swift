import MSIX
import Testing

@Suite("Masking, pending bits and delivery order")
struct MSIXMaskingTests {
    /// n vectors, notifiers set (no poll), MSI-X enabled, every vector programmed with msg(v) and masked.
    func enabledDevice(_ n: Int = 4, sink: TestSink) throws -> MSIXDevice {
        let device = try makeDevice(n, sink: sink)
        try device.setNotifiers(sink, poll: false)
        for v in 0..<n { device.program(v, msg(v)) }
        device.setControl(enable: true)
        _ = sink.take()
        return device
    }

    @Test("a raise on a masked vector sets its pending bit; raises coalesce")
    func raiseWhileMasked() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        #expect(device.notify(vector: 1) == .pended)
        #expect(device.notify(vector: 1) == .pended)
        #expect(device.isPending(vector: 1))
        #expect(device.pbaDword(0) == 0b10)
        #expect(sink.take().isEmpty)
        #expect(device.counters.notifyPended == 2)
        device.setMask(1, false)
        #expect(sink.take() == [.use(1, msg(1)), .send(1, msg(1)), .commit])
        #expect(!device.isPending(vector: 1))
        #expect(device.pbaDword(0) == 0)
    }

    @Test("mask/unmask ordering: use fires first, then the pending bit is delivered and cleared")
    func unmaskOrder() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        device.notify(vector: 2)
        device.setMask(2, false)
        #expect(sink.take() == [.use(2, msg(2)), .send(2, msg(2)), .commit])
        #expect(device.isUseNotified(vector: 2))
        #expect(device.counters.pendingDelivered == 1)
        // Unmasked: raises go straight out.
        #expect(device.notify(vector: 2) == .sent)
        #expect(sink.take() == [.send(2, msg(2))])
        // Masking releases and leaves later raises pending.
        device.setMask(2, true)
        #expect(sink.take() == [.release(2), .commit])
        #expect(device.notify(vector: 2) == .pended)
        #expect(sink.take().isEmpty)
    }

    @Test("unmask without notifiers delivers the pending bit through the sink only")
    func unmaskWithoutNotifiers() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        device.program(3, msg(3))
        device.setControl(enable: true)
        device.notify(vector: 3)
        device.setMask(3, false)
        #expect(sink.take() == [.send(3, msg(3))])
    }

    @Test("on unmask the pending bit of an unused vector is cleared and the raise dropped")
    func pendingOfUnusedVectorDropped() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        device.unuse(vector: 0)              // use count 0
        device.setPending(vector: 0)         // as a poll notifier would
        device.setMask(0, false)
        #expect(sink.take() == [.use(0, msg(0)), .commit])
        #expect(!device.isPending(vector: 0))
        #expect(device.counters.pendingDropped == 1)
        #expect(device.counters.pendingDelivered == 0)
    }

    @Test("raises on unused or nonexistent vectors are dropped and counted")
    func droppedRaises() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        device.unuse(vector: 1)
        #expect(device.notify(vector: 1) == .droppedUnused)
        #expect(!device.isPending(vector: 1))
        for v in [4, -1, Int.max, Int.min] {
            #expect(device.notify(vector: v) == .droppedOutOfRange)
        }
        #expect(device.counters.notifyDroppedUnused == 1)
        #expect(device.counters.notifyDroppedOutOfRange == 4)
        #expect(device.counters.notifyDropped == 5)
        #expect(sink.take().isEmpty)
    }

    @Test("function mask: setting it releases unmasked vectors; clearing it uses them, ascending, each followed by its pending delivery")
    func functionMask() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        device.setMask(0, false)
        device.setMask(2, false)
        #expect(sink.take() == [.use(0, msg(0)), .commit, .use(2, msg(2)), .commit])
        device.setControl(enable: true, maskAll: true)
        #expect(sink.take() == [.release(0), .release(2), .commit])
        #expect(device.isMasked(vector: 0) && device.isMasked(vector: 2))
        #expect(device.notify(vector: 2) == .pended)
        #expect(device.notify(vector: 0) == .pended)
        #expect(device.notify(vector: 1) == .pended)
        device.setControl(enable: true, maskAll: false)
        #expect(sink.take() == [.use(0, msg(0)), .send(0, msg(0)), .use(2, msg(2)), .send(2, msg(2)), .commit])
        #expect(device.isPending(vector: 1))  // still masked by its own bit
        // Writing the same control again changes nothing.
        device.setControl(enable: true, maskAll: false)
        #expect(sink.take().isEmpty)
    }

    @Test("Enable transitions: enabling uses unmasked vectors, disabling releases them (difference 1)")
    func enableTransitions() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        try device.setNotifiers(sink, poll: false)
        for v in 0..<4 { device.program(v, msg(v)) }
        device.setMask(1, false)
        device.setMask(3, false)
        #expect(sink.take().isEmpty)  // disabled: function masked
        #expect(device.notify(vector: 3) == .pended)
        device.setControl(enable: true)
        #expect(sink.take() == [.use(1, msg(1)), .use(3, msg(3)), .send(3, msg(3)), .commit])
        device.setControl(enable: false)
        #expect(sink.take() == [.release(1), .release(3), .commit])
        #expect(!device.isUseNotified(vector: 1) && !device.isUseNotified(vector: 3))
        // Enable with the function mask set: still masked, nothing fires; clearing Enable then: nothing.
        device.setControl(enable: true, maskAll: true)
        #expect(sink.take().isEmpty)
        device.setControl(enable: false, maskAll: true)
        #expect(sink.take().isEmpty)
        // Both at once: disabled+masked → enabled+unmasked.
        device.capabilityWrite(offset: 3, size: 1, value: 0x80)
        #expect(sink.take() == [.use(1, msg(1)), .use(3, msg(3)), .commit])
    }

    @Test("message change of an unmasked vector in use: release then use with the new message")
    func messageChange() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        device.setMask(1, false)
        _ = sink.take()
        let base = UInt64(16)
        device.write(bar: bar, offset: base + 8, size: 4, value: 0x99)
        let newData = MSIXMessage(address: msg(1).address, data: 0x99)
        #expect(sink.take() == [.release(1), .use(1, newData), .commit])
        device.write(bar: bar, offset: base, size: 4, value: 0xFEE0_2000)
        let newAddress = MSIXMessage(address: 0xFEE0_2000, data: 0x99)
        #expect(sink.take() == [.release(1), .use(1, newAddress), .commit])
        #expect(device.message(vector: 1) == newAddress)
        device.write(bar: bar, offset: base + 4, size: 4, value: 1)
        #expect(sink.take() == [.release(1), .use(1, MSIXMessage(address: 0x1_FEE0_2000, data: 0x99)), .commit])
        // Raises use the current message.
        device.notify(vector: 1)
        #expect(sink.take() == [.send(1, MSIXMessage(address: 0x1_FEE0_2000, data: 0x99))])
    }

    @Test("an unchanged write fires nothing; masked vectors' message changes fire nothing")
    func unchangedWrite() throws {
        let sink = TestSink()
        let device = try enabledDevice(sink: sink)
        device.setMask(1, false)
        _ = sink.take()
        device.program(1, msg(1))       // same values
        device.setMask(1, false)        // same mask
        device.write(bar: bar, offset: 16 + 12, size: 4, value: 0xFFFF_FFFE)  // reserved bits only: still unmasked
        #expect(sink.take().isEmpty)
        device.program(2, msg(9))       // vector 2 is masked
        #expect(sink.take().isEmpty)
        device.setMask(2, false)
        #expect(sink.take() == [.use(2, msg(9)), .commit])
    }

    @Test("a disabled function pends raises on vectors whose own Mask bit is clear")
    func disabledPends() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        device.setMask(0, false)
        #expect(device.isMasked(vector: 0))
        #expect(device.notify(vector: 0) == .pended)
        #expect(device.isMasked(vector: 99))
        #expect(!device.isPending(vector: 99))
        #expect(device.message(vector: 99) == nil)
    }
}
