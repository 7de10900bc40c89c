import MSIX

/// The interrupt router of a replay: records every call as a `ReplayEvent` and models one
/// backend eventfd per vector the way KVM's irqfd behaves.
///
/// - A route exists for a vector between use(v) and release(v); the irqfd is attached then.
/// - `backend(vector:)` on a routed vector is injected at once (`msi` via irqfd, with the route's
///   message); otherwise the eventfd keeps a count ("held").
/// - use(v) of a vector with a held count injects it once, right after the `use` event (an irqfd
///   attached to an eventfd that already holds a count fires at once; counts coalesce).
/// - poll(first, end) turns the held count of each masked vector in the range into its pending
///   bit (and empties the eventfd).
/// - Held counts belong to the eventfds, not to the MSI-X state: snapshot, restore and reset do
///   not touch them, and neither does unsetting the notifiers.
public final class RecordingRouter: MSIXInterruptSink {
    /// Events since the last `takeEvents()`.
    public private(set) var events: [ReplayEvent] = []
    /// Number of `commit()` calls.
    public private(set) var commits = 0
    private var routes: [MSIXMessage?]
    private var held: [UInt64]

    /// A router for a function of `vectorCount` vectors, with no route and nothing held.
    /// `use`, `release` and `poll` for vectors outside `0 ..< vectorCount` are recorded but
    /// change nothing; `backend(vector:)` ignores them.
    public init(vectorCount: Int) {
        routes = [MSIXMessage?](repeating: nil, count: max(vectorCount, 0))
        held = [UInt64](repeating: 0, count: max(vectorCount, 0))
    }

    /// Returns and forgets the recorded events.
    public func takeEvents() -> [ReplayEvent] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// The device's backend writes `vector`'s eventfd.
    public func backend(vector: Int) {
        guard routes.indices.contains(vector) else { return }
        if let message = routes[vector] {
            events.append(.msi(vector: vector, message: message, via: .irqfd))
        } else if held[vector] < UInt64.max {
            held[vector] += 1
        }
    }

    public func send(_ message: MSIXMessage, vector: Int) {
        events.append(.msi(vector: vector, message: message, via: .signal))
    }

    public func use(vector: Int, message: MSIXMessage) throws {
        events.append(.use(vector: vector, message: message))
        guard routes.indices.contains(vector) else { return }
        routes[vector] = message
        if held[vector] > 0 {
            held[vector] = 0
            events.append(.msi(vector: vector, message: message, via: .irqfd))
        }
    }

    public func release(vector: Int) {
        events.append(.release(vector: vector))
        if routes.indices.contains(vector) { routes[vector] = nil }
    }

    public func poll(first: Int, end: Int, device: MSIXDevice) {
        events.append(.poll(first: first, end: end))
        for vector in max(first, 0)..<max(min(end, held.count), max(first, 0))
        where held[vector] > 0 && device.isMasked(vector: vector) {
            held[vector] = 0
            device.setPending(vector: vector)
        }
    }

    public func commit() {
        commits += 1
    }
}
