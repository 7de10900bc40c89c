#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable (on the monotonic clock): for the few places that
/// must block an OS thread until another changes shared state (the end of a run, console output).
///
/// Sendable: the mutex and condition are made once, never move (they live in allocations of
/// their own), and pthreads synchronises every use of them.
public final class Monitor: Sendable {
    private nonisolated(unsafe) let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private nonisolated(unsafe) let condition: UnsafeMutablePointer<pthread_cond_t>

    /// Makes an unlocked monitor whose condition waits on `CLOCK_MONOTONIC`.
    public init() {
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

    /// Runs `body` with the mutex held.
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for `broadcast` (or a spurious wake-up). Call with the mutex held, inside `withLock`.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Like `wait`, but returns false once the monotonic clock passes `deadline`.
    public func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes every waiter. Call with the mutex held.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }

    /// The monotonic time `seconds` from now, clamped so it always fits a timespec (a year is
    /// longer than any wait): negative values count as no wait, NaN and infinity as a year.
    public static func deadline(after seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let wait = min(max(0, seconds.isNaN ? .infinity : seconds), 365 * 86400)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + wait
        return timespec(tv_sec: Int(total), tv_nsec: Int((total - total.rounded(.down)) * 1e9))
    }
}
