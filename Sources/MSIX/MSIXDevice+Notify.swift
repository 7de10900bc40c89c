/// What became of one raise.
public enum MSIXNotifyOutcome: Sendable, Equatable {
    /// The message was sent to the sink.
    case sent
    /// The vector is masked: its pending bit is set (merging with an earlier raise if set).
    case pended
    /// The vector's use count is 0: dropped.
    case droppedUnused
    /// No such vector: dropped.
    case droppedOutOfRange
    /// Bus Master Enable is clear: the function may not send; dropped.
    case droppedBusMaster
}

extension MSIXDevice {
    /// The device raises `vector`: an unused or nonexistent vector is dropped, and so is every
    /// raise while Bus Master Enable is clear; a masked vector gets its pending bit; otherwise
    /// the current message goes to the sink (`KVM_SIGNAL_MSI`).
    @discardableResult
    public func notify(vector: Int) -> MSIXNotifyOutcome {
        guard contains(vector) else {
            counters.notifyDroppedOutOfRange &+= 1
            return .droppedOutOfRange
        }
        guard useCounts[vector] > 0 else {
            counters.notifyDroppedUnused &+= 1
            return .droppedUnused
        }
        guard busMaster else {
            counters.notifyDroppedBusMaster &+= 1
            return .droppedBusMaster
        }
        if isMasked(vector: vector) {
            pending.set(vector)
            counters.notifyPended &+= 1
            return .pended
        }
        counters.notifySent &+= 1
        sink.send(table.message(vector), vector: vector)
        return .sent
    }

    /// Sets `vector`'s pending bit, whatever its use count, as a poll notifier does for a masked
    /// vector whose backend event it found. Meant for masked vectors: the bit is delivered (or
    /// dropped, if unused) when the vector next becomes unmasked. Out of range: ignored, counted.
    public func setPending(vector: Int) {
        guard contains(vector) else {
            counters.outOfRangeVectors &+= 1
            return
        }
        pending.set(vector)
    }
}
