#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The end of a run: set once, by whichever comes first (exit port, vCPU failure, timeout), and
/// waited for with a deadline.
final class Completion: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var outcome: RunOutcome?
    private let finishedFlag = Atomic<Bool>(false)

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// True once an outcome is set. Cheap: read on the exit path.
    var isFinished: Bool { finishedFlag.load(ordering: .acquiring) }

    /// Sets the outcome unless one is set already. Returns whether this call set it.
    @discardableResult
    func finish(_ value: RunOutcome) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard outcome == nil else { return false }
        outcome = value
        finishedFlag.store(true, ordering: .releasing)
        pthread_cond_broadcast(condition)
        return true
    }

    /// Waits until an outcome is set or `seconds` pass; returns the outcome or nil on time-out.
    func wait(seconds: Double) -> RunOutcome? {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // Clamped so the deadline always fits a timespec (a year is longer than any run).
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + min(max(0, seconds.isNaN ? .infinity : seconds), 365 * 86400)
        var deadline = timespec(tv_sec: Int(total), tv_nsec: Int((total - total.rounded(.down)) * 1e9))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while outcome == nil {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return outcome
    }

    /// The outcome, if set.
    var result: RunOutcome? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return outcome
    }
}
