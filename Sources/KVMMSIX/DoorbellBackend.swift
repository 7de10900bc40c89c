#if canImport(Glibc)
import Glibc
#endif
import KVM
import Synchronization
import Threads

/// A device backend on its own thread: it waits on one doorbell eventfd each (written by KVM
/// ioeventfds when the guest writes the doorbell, with no vCPU exit) and hands each rung doorbell
/// and its count to `ring(index, count)`.
final class DoorbellBackend: Sendable {
    /// Doorbell eventfds by index.
    let doorbells: [EventFD?]
    private let stopEvent: EventFD
    private let thread = Mutex<OSThread?>(nil)

    /// Makes eventfds for doorbells 0..<count.
    init(count: Int) throws {
        doorbells = try (0..<count).map { _ in try EventFD(nonblocking: true) }
        stopEvent = try EventFD(nonblocking: true)
    }

    /// Starts the backend thread, which calls `raise(index, count)` for each rung doorbell.
    func start(name: String, raise: @escaping @Sendable (Int, UInt64) -> Void) throws(ThreadError) {
        try thread.withLock { (t: inout OSThread?) throws(ThreadError) in
            guard t == nil else { return }
            t = try OSThread(name: name) { [self] in run(raise) }
        }
    }

    /// Stops and joins the backend thread. Idempotent.
    func stop() {
        guard let running = thread.withLock({ t in defer { t = nil }; return t }) else { return }
        try? stopEvent.signal()
        running.join()
    }

    private func run(_ raise: @Sendable (Int, UInt64) -> Void) {
        var fds = [pollfd(fd: stopEvent.fd.rawValue, events: Int16(POLLIN), revents: 0)]
        var vectors = [-1]
        for (vector, doorbell) in doorbells.enumerated() {
            guard let doorbell else { continue }
            fds.append(pollfd(fd: doorbell.fd.rawValue, events: Int16(POLLIN), revents: 0))
            vectors.append(vector)
        }
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[0].revents != 0 { return }
            for i in 1..<fds.count where fds[i].revents != 0 {
                fds[i].revents = 0
                if let count = try? doorbells[vectors[i]]?.consume(), count > 0 { raise(vectors[i], count) }
            }
        }
    }
}
