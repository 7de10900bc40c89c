import Synchronization

/// A log a guest can reach: the first `limit` messages go through, later ones are only counted,
/// so no guest action can flood the host's standard error or spend the exit path on output.
public final class RateLimitedLog: Sendable {
    /// How many messages are written before the log goes quiet; 0 or less writes none.
    public let limit: Int
    private let sink: @Sendable (String) -> Void
    private let count = Atomic<Int>(0)

    /// Makes a log that passes its first `limit` messages to `sink`, on the caller's thread.
    public init(limit: Int, sink: @escaping @Sendable (String) -> Void) {
        self.limit = limit
        self.sink = sink
    }

    /// Logs `message` (built only if it will be written); the last one written says that later
    /// messages are counted, not logged.
    public func callAsFunction(_ message: @autoclosure () -> String) {
        let seen = count.wrappingAdd(1, ordering: .relaxed).oldValue
        guard seen < limit else { return }
        sink(seen + 1 == limit ? message() + " (further messages like this are counted, not logged)" : message())
    }

    /// Messages seen, written or not.
    public var total: Int { count.load(ordering: .relaxed) }
}
