/// What happens when a vector's masked state changes, in the order this project fixes:
///
/// 1. Several vectors changing in one access or operation are handled one at a time, in
///    ascending vector order.
/// 2. For each vector becoming masked: release(v) if use(v) holds. Nothing else: its pending bit
///    (if any) stays.
/// 3. For each vector becoming unmasked: use(v, message) first (if notifiers are set), then its
///    pending bit: cleared, and the message sent if the vector is used (use count > 0), dropped
///    otherwise.
/// 4. A message change (address or data dword written with a different value) of an unmasked
///    vector: release(v) if use(v) holds, then use(v, new message). An unchanged value fires
///    nothing.
/// "Masked" here means blocked: masked by its bit or the function, or Bus Master Enable clear
/// (MSIXDevice+BusMaster.swift).
extension MSIXDevice {
    /// `vector` changed from masked to unmasked or back.
    func maskStateChanged(_ vector: Int, nowMasked: Bool) {
        if nowMasked {
            releaseIfUseNotified(vector)
        } else {
            notifyUse(vector)
            deliverPending(vector)
        }
    }

    /// The message of unmasked `vector` changed.
    func messageChanged(_ vector: Int) {
        guard notifiers != nil else { return }
        releaseIfUseNotified(vector)
        notifyUse(vector)
    }

    /// Calls use(vector, message) if notifiers are set. A failure is counted and reported, and
    /// leaves the vector on the plain send path.
    func notifyUse(_ vector: Int) {
        guard let notifiers else { return }
        notifiersCalled = true
        do {
            try notifiers.use(vector: vector, message: table.message(vector))
            useNotified[vector] = true
        } catch {
            counters.useNotifierFailures &+= 1
            lastUseFailure = MSIXUseFailure(vector: vector, reason: String(describing: error))
        }
    }

    /// Calls release(vector) if use(vector) holds.
    func releaseIfUseNotified(_ vector: Int) {
        guard useNotified[vector] else { return }
        useNotified[vector] = false
        notifiersCalled = true
        notifiers?.release(vector: vector)
    }

    /// Releases every vector whose use holds, in ascending order (reset, restore,
    /// unset-notifiers; disabling goes through `applyMessageControl`, in the same order).
    func releaseAllUseNotified() {
        for vector in 0..<vectorCount where useNotified[vector] {
            releaseIfUseNotified(vector)
        }
    }

    /// A vector just became unmasked: deliver its pending bit, if set.
    func deliverPending(_ vector: Int) {
        guard pending.isSet(vector) else { return }
        pending.clear(vector)
        if useCounts[vector] > 0 {
            counters.pendingDelivered &+= 1
            sink.send(table.message(vector), vector: vector)
        } else {
            counters.pendingDropped &+= 1
        }
    }

    /// Ends an operation: one commit if use or release was called during it.
    func finishOperation() {
        guard notifiersCalled else { return }
        notifiersCalled = false
        notifiers?.commit()
    }

    /// Sets Enable and Function Mask; if that changes the function mask, every vector whose own
    /// Mask bit is clear changes masked state, handled in ascending order.
    func applyMessageControl(enable: Bool, functionMask: Bool) {
        let wasMasked = control.masksFunction || !busMaster
        control.enable = enable
        control.functionMask = functionMask
        let isMasked = control.masksFunction || !busMaster
        guard wasMasked != isMasked else { return }
        for vector in 0..<vectorCount where !table.maskBitSet(vector) {
            maskStateChanged(vector, nowMasked: isMasked)
        }
    }
}
