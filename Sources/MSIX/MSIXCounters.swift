/// What the MSI-X function has done and refused, for tests, logs and the test device's counters.
/// Every counter wraps instead of trapping.
public struct MSIXCounters: Sendable, Equatable {
    // Raises (`notify`).
    /// Messages sent for a raise on an unmasked, used vector.
    public var notifySent: UInt64 = 0
    /// Raises on a masked, used vector: the pending bit was set instead.
    public var notifyPended: UInt64 = 0
    /// Raises on a vector whose use count is 0: dropped.
    public var notifyDroppedUnused: UInt64 = 0
    /// Raises on a vector ≥ n (or negative): dropped.
    public var notifyDroppedOutOfRange: UInt64 = 0
    /// Raises while Bus Master Enable is clear: dropped.
    public var notifyDroppedBusMaster: UInt64 = 0

    // Pending bits found when a vector becomes unmasked.
    /// Pending bits delivered (message sent, bit cleared) on unmask.
    public var pendingDelivered: UInt64 = 0
    /// Pending bits of unused vectors cleared on unmask without sending.
    public var pendingDropped: UInt64 = 0

    // Guest accesses refused (each access counts once, in the first matching counter).
    /// Table/PBA BAR accesses whose size is not 4 or 8.
    public var badAccessSize: UInt64 = 0
    /// Table/PBA BAR accesses of size 4 or 8 that are not naturally aligned.
    public var misalignedAccess: UInt64 = 0
    /// Aligned 4/8-byte accesses outside both the table and the PBA (or to another BAR).
    public var outsideTableAndPBA: UInt64 = 0
    /// Guest writes to the PBA (read-only): ignored.
    public var pbaWritesIgnored: UInt64 = 0
    /// Capability accesses not of size 1, 2 or 4 inside the 12 bytes.
    public var badCapabilityAccess: UInt64 = 0

    // VMM-side calls refused.
    /// `use`, `unuse`, `setPending` with a vector ≥ n (or negative): ignored.
    public var outOfRangeVectors: UInt64 = 0
    /// Use notifier failures when a vector became unmasked or changed message: the vector
    /// stays on the plain send path (`MSIXMessageSink.send`).
    public var useNotifierFailures: UInt64 = 0

    /// Every counter at 0.
    public init() {}

    /// Raises dropped, whatever the reason.
    public var notifyDropped: UInt64 { notifyDroppedUnused &+ notifyDroppedOutOfRange &+ notifyDroppedBusMaster }
    /// Guest accesses refused (read as all ones or dropped); ignored PBA writes are not included.
    public var invalidAccesses: UInt64 {
        badAccessSize &+ misalignedAccess &+ outsideTableAndPBA &+ badCapabilityAccess
    }
}

/// The last use notifier failure: which vector, and the notifier's error as text.
public struct MSIXUseFailure: Sendable, Equatable {
    /// The vector whose `use` notifier threw (0 ..< n).
    public var vector: Int
    /// The error the notifier threw, as `String(describing:)` renders it.
    public var reason: String

    /// A record of `vector`'s use notifier failing with the error text `reason`.
    public init(vector: Int, reason: String) {
        self.vector = vector
        self.reason = reason
    }
}
