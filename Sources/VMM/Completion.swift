import Synchronization
import Threads

/// The end of a run: set once, by whichever comes first (exit port, vCPU failure, timeout), and
/// waited for with a deadline.
final class Completion: Sendable {
    private let monitor = Monitor()
    /// Written once, under `monitor`; read under it.
    private nonisolated(unsafe) var outcome: RunOutcome?
    private let finishedFlag = Atomic<Bool>(false)

    /// True once an outcome is set. Cheap: read on the exit path.
    var isFinished: Bool { finishedFlag.load(ordering: .acquiring) }

    /// Sets the outcome unless one is set already. Returns whether this call set it.
    @discardableResult
    func finish(_ value: RunOutcome) -> Bool {
        monitor.withLock {
            guard outcome == nil else { return false }
            outcome = value
            finishedFlag.store(true, ordering: .releasing)
            monitor.broadcast()
            return true
        }
    }

    /// Waits until an outcome is set or `seconds` pass; returns the outcome or nil on time-out.
    /// NaN and infinite waits last a year (longer than any run).
    func wait(seconds: Double) -> RunOutcome? {
        let deadline = Monitor.deadline(after: seconds)
        return monitor.withLock {
            while outcome == nil {
                if !monitor.wait(until: deadline) { break }
            }
            return outcome
        }
    }

    /// The outcome, if set.
    var result: RunOutcome? { monitor.withLock { outcome } }
}
