/// The MSI-X state a VM snapshot carries: the table, the pending bits and Message Control's
/// two writable bits. Not included: use counts (the device declares them), notifiers and
/// anything a backend holds (e.g. events waiting in an eventfd).
public struct MSIXSnapshot: Sendable, Equatable {
    /// n of the function it was taken from.
    public var vectorCount: Int
    /// 4 dwords per vector: address low, address high, data, Vector Control.
    public var tableDwords: [UInt32]
    /// ⌈n / 64⌉ qwords, vector v in bit v % 64 of qword v / 64.
    public var pendingQwords: [UInt64]
    /// Message Control Enable.
    public var enable: Bool
    /// Message Control Function Mask.
    public var functionMask: Bool

    /// A snapshot made of these values, unchecked: `MSIXDevice.restore(_:)` refuses one whose
    /// shape is not the function's.
    public init(vectorCount: Int, tableDwords: [UInt32], pendingQwords: [UInt64], enable: Bool, functionMask: Bool) {
        self.vectorCount = vectorCount
        self.tableDwords = tableDwords
        self.pendingQwords = pendingQwords
        self.enable = enable
        self.functionMask = functionMask
    }
}

extension MSIXDevice {
    /// The current state, in storage of its own (later accesses do not copy the device's arrays).
    public func snapshot() -> MSIXSnapshot {
        MSIXSnapshot(vectorCount: vectorCount, tableDwords: table.copyOfDwords(), pendingQwords: pending.copyOfQwords(),
                     enable: control.enable, functionMask: control.functionMask)
    }

    /// Restores `snapshot`, following QEMU's load and this project's balance rule:
    ///
    /// 1. Every vector whose use holds is released, in ascending order.
    /// 2. Table, pending bits, Enable and Function Mask take the snapshot's values (reserved
    ///    Vector Control bits and pending bits of nonexistent vectors are dropped).
    /// 3. Every vector now unmasked is handled as if it had just been unmasked, in ascending
    ///    order: use(v, message) if notifiers are set, then its pending bit is cleared and sent if
    ///    the vector is used (dropped if not). Pending bits of masked vectors stay.
    /// 4. Notifiers commit once if anything was released or used.
    ///
    /// Throws `.snapshotMismatch`, changing nothing, if the snapshot's shape is not this
    /// function's.
    public func restore(_ snapshot: MSIXSnapshot) throws(MSIXError) {
        let n = vectorCount
        guard snapshot.vectorCount == n else {
            throw .snapshotMismatch(what: "vectors", expected: n, actual: snapshot.vectorCount)
        }
        guard snapshot.tableDwords.count == n * MSIXTable.dwordsPerEntry else {
            throw .snapshotMismatch(what: "table dwords", expected: n * MSIXTable.dwordsPerEntry, actual: snapshot.tableDwords.count)
        }
        guard snapshot.pendingQwords.count == (n + 63) / 64 else {
            throw .snapshotMismatch(what: "pending qwords", expected: (n + 63) / 64, actual: snapshot.pendingQwords.count)
        }
        releaseAllUseNotified()
        table.load(snapshot.tableDwords)
        pending.load(snapshot.pendingQwords)
        control.enable = snapshot.enable
        control.functionMask = snapshot.functionMask
        for vector in 0..<n where !isBlocked(vector) {
            maskStateChanged(vector, nowMasked: false)
        }
        finishOperation()
    }

    /// Device reset: releases every vector whose use holds (ascending), then clears Enable and
    /// Function Mask, sets every entry to address 0, data 0, masked, and clears every pending
    /// bit; commits once if anything was released. Use counts and notifiers stay.
    public func reset() {
        releaseAllUseNotified()
        control.enable = false
        control.functionMask = false
        table.maskAll()
        pending.clearAll()
        finishOperation()
    }
}
