import MSIX

/// Use/release/poll notifiers and a sink that check the MSI-X function's side of the contract
/// (`MSIXVectorNotifiers`): use and release alternate per vector, every use or release is
/// committed once, and nothing is sent for a blocked vector. The first violation is kept.
final class CheckingNotifiers: MSIXInterruptSink {
    var active = Set<Int>()
    var owed = false
    var commits = 0
    var failUses = false
    var violation: String?
    weak var device: MSIXDevice?

    func record(_ message: String) { violation = violation ?? message }

    func use(vector: Int, message: MSIXMessage) throws {
        owed = true
        if active.contains(vector) { record("use(\(vector)) twice without a release") }
        if failUses { throw Refused() }
        active.insert(vector)
    }

    func release(vector: Int) {
        owed = true
        if active.remove(vector) == nil { record("release(\(vector)) without a use") }
    }

    func poll(first: Int, end: Int, device: MSIXDevice) {
        guard 0 <= first, first < end, end <= device.vectorCount else { return record("poll(\(first), \(end)) outside the vectors") }
        for vector in first..<end where device.isMasked(vector: vector) && vector % 3 == 0 { device.setPending(vector: vector) }
    }

    func send(_ message: MSIXMessage, vector: Int) {
        guard let device else { return }
        if !device.isBusMasterEnabled || device.isMasked(vector: vector) {
            record("vector \(vector) sent while masked or with Bus Master Enable clear")
        }
    }

    func commit() {
        if !owed { record("commit without a use or release before it") }
        owed = false
        commits += 1
    }

    struct Refused: Error {}
}

extension FuzzTarget {
    /// The MSI-X state machine under the operations the input names: table and PBA accesses of
    /// every offset and size, Message Control writes, raises, use/unuse, Bus Master Enable,
    /// reset, snapshot/restore and notifier changes. After every operation: the notifiers'
    /// contract held (`CheckingNotifiers`), at most one commit was made and none is owed, the
    /// device's in-use state is the notifiers' and never on a blocked vector, and (with Bus
    /// Master Enable set) a pending bit is only on a masked vector.
    static func msix(_ bytes: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        // Mostly small functions (the invariants are checked on every vector after every
        // operation); one input in eight has up to 2048 vectors.
        let shape = input.u16()
        let n = 1 + Int(shape & 7 == 0 ? (shape >> 3) % 2048 : (shape >> 3) % 64)
        let bar = 1
        let notifiers = CheckingNotifiers()
        let layout: MSIXLayout, device: MSIXDevice
        do {
            layout = try MSIXLayout.exclusiveBAR(vectorCount: n, bar: bar)
            device = try MSIXDevice(layout: layout, capabilityOffset: 0x40, initialUseCount: 1, sink: notifiers)
        } catch {
            throw FuzzFailure("no device with \(n) vectors: \(error)")
        }
        notifiers.device = device
        var saved = device.snapshot()
        let barSize = layout.tableBARSize
        func vector() -> Int { Int(input.u16() % UInt16(n + 4)) - 2 }
        func offset(_ op: UInt8) -> UInt64 { op & 0x10 != 0 ? input.u64() : UInt64(input.u32()) % (barSize + 64) }
        var operations = 0
        while !input.isEmpty, operations < 2048 {
            operations += 1
            let commitsBefore = notifiers.commits
            let op = input.u8()
            switch op % 16 {
            case 0, 1, 2:
                // Table and PBA writes: mostly inside the BAR, sometimes anywhere, any size 0…9.
                let at = offset(op)
                device.write(bar: op & 0x20 != 0 ? Int(input.u8() % 7) : bar, offset: at, size: Int(input.u8() % 10), value: input.u64())
            case 3:
                let at = offset(op)
                _ = device.read(bar: bar, offset: at, size: Int(input.u8() % 10))
            case 4:
                // One entry's dword, aligned: the common guest write.
                let v = UInt64(input.u16()) % UInt64(n), field = UInt64(input.u8() % 4)
                device.write(bar: bar, offset: 16 * v + 4 * field, size: 4, value: UInt64(input.u32()))
            case 5:
                device.capabilityWrite(offset: Int(input.u8() % 16) - 2, size: Int(input.u8() % 6), value: input.u32())
            case 6:
                // Message Control by its three usual paths.
                let control = UInt32(input.u8() & 0xC0) << 8
                switch input.u8() % 3 {
                case 0: device.capabilityWrite(offset: 0, size: 4, value: control << 16)
                case 1: device.capabilityWrite(offset: 2, size: 2, value: control)
                default: device.capabilityWrite(offset: 3, size: 1, value: control >> 8)
                }
            case 7: _ = device.capabilityRead(offset: Int(input.u8() % 16) - 2, size: Int(input.u8() % 6))
            case 8, 9: device.notify(vector: vector())
            case 10: _ = device.use(vector: vector())
            case 11: _ = device.unuse(vector: vector())
            case 12: device.setBusMaster(enabled: input.u8() & 1 == 0)
            case 13:
                switch input.u8() % 4 {
                case 0: device.reset()
                case 1: device.unuseAll()
                case 2: saved = device.snapshot()
                default: try? device.restore(saved)
                }
            case 14:
                if device.hasNotifiers {
                    device.unsetNotifiers()
                } else {
                    notifiers.failUses = input.u8() % 4 == 0
                    try? device.setNotifiers(notifiers, poll: input.u8() & 1 == 0)
                    notifiers.failUses = false
                }
            default:
                // A PBA read (it polls, with poll notifiers).
                let at = layout.pba.offset + (UInt64(input.u16()) % (layout.pbaSize + 8) & ~7)
                _ = device.read(bar: bar, offset: at, size: 8)
            }
            try checkMSIX(device, notifiers, commitsBefore: commitsBefore, operation: operations)
        }
        device.unsetNotifiers()
        guard notifiers.active.isEmpty else { throw FuzzFailure("vectors still in use after unsetNotifiers: \(notifiers.active.sorted().prefix(8))") }
    }

    static func checkMSIX(_ device: MSIXDevice, _ notifiers: CheckingNotifiers, commitsBefore: Int, operation: Int) throws(FuzzFailure) {
        func fail(_ message: String) -> FuzzFailure { FuzzFailure("operation \(operation): \(message)") }
        if let violation = notifiers.violation { throw fail(violation) }
        guard !notifiers.owed else { throw fail("returned with use/release not committed") }
        guard notifiers.commits - commitsBefore <= 1 else { throw fail("\(notifiers.commits - commitsBefore) commits in one operation") }
        if !device.hasNotifiers, !notifiers.active.isEmpty { throw fail("vectors in use without notifiers") }
        // Each vector's state is read once (these reads were most of the target's time), and the
        // pending bit only where it matters: with Bus Master Enable set, on an unmasked vector.
        let busMaster = device.isBusMasterEnabled
        for v in 0..<device.vectorCount {
            let inUse = device.isUseNotified(vector: v)
            guard inUse == notifiers.active.contains(v) else { throw fail("vector \(v): the device and its notifiers disagree on use") }
            let masked = device.isMasked(vector: v)
            guard !inUse || (!masked && busMaster) else { throw fail("vector \(v) in use while blocked") }
            guard !busMaster || masked || !device.isPending(vector: v) else { throw fail("vector \(v) pending while unmasked") }
        }
    }
}
