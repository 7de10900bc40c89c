extension MSIXDevice {
    /// Sets the use/release (and, with `poll`, poll) notifiers.
    ///
    /// Fires use(v, message) for every vector unmasked now, in ascending order. If one fails, the
    /// vectors already used are released in descending order (undo order), commit is called, the
    /// notifiers are not set and `.useNotifierFailed` is thrown. Otherwise, with `poll`, calls
    /// poll(0, n) once, then commits if any use was fired.
    public func setNotifiers(_ newNotifiers: any MSIXVectorNotifiers, poll: Bool) throws(MSIXError) {
        guard notifiers == nil else { throw .notifiersAlreadySet }
        notifiers = newNotifiers
        pollsOnPBARead = poll
        for vector in 0..<vectorCount where !isBlocked(vector) {
            notifiersCalled = true
            do {
                try newNotifiers.use(vector: vector, message: table.message(vector))
                useNotified[vector] = true
            } catch {
                for earlier in stride(from: vector - 1, through: 0, by: -1) where useNotified[earlier] {
                    useNotified[earlier] = false
                    newNotifiers.release(vector: earlier)
                }
                notifiersCalled = false
                newNotifiers.commit()
                notifiers = nil
                pollsOnPBARead = false
                throw .useNotifierFailed(vector: vector, reason: String(describing: error))
            }
        }
        if poll {
            newNotifiers.poll(first: 0, end: vectorCount, device: self)
        }
        finishOperation()
    }

    /// Removes the notifiers: releases every vector whose use holds (ascending), commits if any
    /// was released, and forgets them. Without notifiers, does nothing.
    public func unsetNotifiers() {
        guard notifiers != nil else { return }
        releaseAllUseNotified()
        finishOperation()
        notifiers = nil
        pollsOnPBARead = false
    }
}
