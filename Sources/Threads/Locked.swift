#if canImport(Glibc)
import Glibc
#endif

/// A value that only one thread at a time can read or change: the value and a pthread mutex.
///
/// The project's modules guard shared state with this rather than the standard library's
/// `Synchronization.Mutex`. On Linux that Mutex takes its contended path (a PI futex) inside
/// `libswiftSynchronization`, which the thread sanitizer does not instrument, so a lock handed
/// from one thread to another under contention leaves no happens-before edge and TSan reports a
/// race that is not there (`Scripts/tsan.sh` did, on the run statistics two vCPU threads add to
/// as they end). pthread mutexes are intercepted by TSan, so every report it makes about state
/// guarded here is a real one. The uncontended cost is one atomic exchange each way, as Mutex's.
///
/// Not reentrant: calling `withLock` again from inside `body` on the same value deadlocks.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    // Sendable by hand: the mutex serialises every access to `value`, and the mutex itself lives
    // in an allocation of its own that never moves.
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // No dynamic exclusivity check: the mutex already makes every access exclusive, and the
    // check (swift_beginAccess/endAccess, a thread-local access set) was a third of the cost of
    // a probe-device exit in callgrind, more than the lock.
    @exclusivity(unchecked) @usableFromInline var value: Value

    /// Guards `value`.
    public init(_ value: consuming Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the mutex held throughout; returns what `body` returns.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
