/// Use counts: which vectors the device means to raise.
///
/// A device declares the vectors its driver configures (use count + 1 each time); raises on a
/// vector whose count is 0 are dropped, and when a count drops to 0 the vector's pending bit is
/// cleared. Use counts are independent of the use/release notifiers, are not reset by `reset()`
/// and are not part of a snapshot (the device declares them again).
extension MSIXDevice {
    /// How many times `vector` is marked used. Out of range: 0.
    public func useCount(vector: Int) -> UInt32 {
        contains(vector) ? useCounts[vector] : 0
    }

    /// Marks `vector` used once more (saturating). Returns false, counted, when out of range.
    @discardableResult
    public func use(vector: Int) -> Bool {
        guard contains(vector) else {
            counters.outOfRangeVectors &+= 1
            return false
        }
        if useCounts[vector] < UInt32.max { useCounts[vector] += 1 }
        return true
    }

    /// Marks `vector` used once less; at 0 its pending bit is cleared. A count already 0 stays 0.
    /// Returns false, counted, when out of range.
    @discardableResult
    public func unuse(vector: Int) -> Bool {
        guard contains(vector) else {
            counters.outOfRangeVectors &+= 1
            return false
        }
        guard useCounts[vector] > 0 else { return true }
        useCounts[vector] -= 1
        if useCounts[vector] == 0 { pending.clear(vector) }
        return true
    }

    /// Every use count to 0 and every pending bit cleared.
    public func unuseAll() {
        for vector in 0..<vectorCount { useCounts[vector] = 0 }
        pending.clearAll()
    }
}
