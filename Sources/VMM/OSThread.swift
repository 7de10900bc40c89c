#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A dedicated OS thread (pthread) running one closure: vCPU loops and device backends block in
/// the kernel, so they never run on Swift concurrency's cooperative pool.
final class OSThread: Sendable {
    /// Written once by `pthread_create` in `init`, before the object is shared; read-only after.
    private nonisolated(unsafe) var handle = pthread_t()
    private let body: @Sendable () -> Void
    private let joined = Atomic<Bool>(false)

    /// Starts `body` on a new thread; `name` is used in error messages.
    init(name: String, _ body: @escaping @Sendable () -> Void) throws(VMMError) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let r = pthread_create(&handle, nil, { raw in
            let thread = Unmanaged<OSThread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            return nil
        }, context)
        if r != 0 {
            Unmanaged<OSThread>.fromOpaque(context).release()
            throw .threadCreation(name: name, errno: r)
        }
    }

    /// Sends `signal` to the thread (used to kick a vCPU out of KVM_RUN).
    func kill(_ signal: Int32) {
        _ = pthread_kill(handle, signal)
    }

    /// Waits for the thread to finish. Later calls (from any thread) return at once.
    func join() {
        guard !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = pthread_join(handle, nil)
    }
}
