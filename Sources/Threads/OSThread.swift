#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A dedicated OS thread (pthread) running one closure: vCPU loops and device backends block in
/// the kernel, so they never run on Swift concurrency's cooperative pool.
public final class OSThread: Sendable {
    /// Written once by `pthread_create` in `init`, before the object is shared; read-only after.
    private nonisolated(unsafe) var handle = pthread_t()
    private let body: @Sendable () -> Void
    private let joined = Atomic<Bool>(false)
    /// The OS thread's name: the first 15 bytes of `name` (the kernel's limit), and a NUL.
    private let osName: [CChar]

    /// Starts `body` on a new thread named `name` (its first 15 bytes, as `top -H`, gdb and
    /// /proc/PID/task/TID/comm show it); `name` is also used in error messages.
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadError) {
        self.body = body
        osName = name.utf8.prefix(15).map { CChar(bitPattern: $0) } + [0]
        let context = Unmanaged.passRetained(self).toOpaque()
        let r = pthread_create(&handle, nil, { raw in
            let thread = Unmanaged<OSThread>.fromOpaque(raw!).takeRetainedValue()
            thread.nameItself()
            thread.body()
            return nil
        }, context)
        if r != 0 {
            Unmanaged<OSThread>.fromOpaque(context).release()
            throw ThreadError(name: name, errno: r)
        }
    }

    /// Names the calling thread (this one, at its start) `osName`, through
    /// /proc/thread-self/comm: glibc's pthread_setname_np is not visible to Swift. A name that
    /// cannot be set leaves the thread unnamed, nothing else.
    private func nameItself() {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        osName.withUnsafeBufferPointer { _ = write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }

    /// Sends `signal` to the thread (used to kick a vCPU out of KVM_RUN).
    public func kill(_ signal: Int32) {
        _ = pthread_kill(handle, signal)
    }

    /// Lets the thread finish on its own: nobody will join it. Call at most once, instead of `join`.
    public func detach() {
        guard !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = pthread_detach(handle)
    }

    /// Waits for the thread to finish. Later calls (from any thread) return at once.
    public func join() {
        guard !joined.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = pthread_join(handle, nil)
    }
}

/// A thread that could not be started: its name and pthread_create's error number.
public struct ThreadError: Error, Equatable, CustomStringConvertible {
    /// The name the thread was given in `OSThread.init(name:_:)`.
    public let name: String
    /// The error number `pthread_create` returned (`EAGAIN` when the thread limit is reached).
    public let errno: Int32
    public var description: String {
        "cannot start thread \(name): " + (errno == EAGAIN ? "EAGAIN (thread limit reached)" : "errno \(errno)")
    }
}
