/// When a `GSIRouteTable` sends its changes to KVM.
///
/// `KVM_SET_GSI_ROUTING` replaces the whole table, so a commit costs in proportion to the routes
/// in use: a guest that unmasks n vectors one write at a time and pays a commit per write pays
/// O(n²) in all. Coalescing batches the changes of many guest writes into one commit, made a
/// short `idle` time after the last change, or at once when `maxPending` changes are waiting.
/// A vector waiting for its commit is live all the same: its events go out by `KVM_SIGNAL_MSI`
/// until its irqfd is attached (`MSIVectorRouter`).
public struct RouteCommitPolicy: Sendable, Equatable {
    /// How long the table waits after its last change before committing, in seconds; 0 commits
    /// at the end of each guest access.
    public var idle: Double
    /// Changes (routes set or removed) that make the table commit at once, whatever `idle` says.
    public var maxPending: Int

    /// A policy; `idle` is clamped to [0, 1] s and `maxPending` to at least 1.
    public init(idle: Double, maxPending: Int) {
        self.idle = idle.isNaN ? 0 : min(max(0, idle), 1)
        self.maxPending = max(1, maxPending)
    }

    /// A commit at the end of every guest access that changed a route.
    public static let immediate = RouteCommitPolicy(idle: 0, maxPending: 1)

    /// Batches: 1 ms after the last change, or at 256 pending changes.
    public static let coalesced = RouteCommitPolicy(idle: 0.001, maxPending: 256)

    /// True when every request commits at once.
    public var isImmediate: Bool { idle == 0 || maxPending == 1 }
}
