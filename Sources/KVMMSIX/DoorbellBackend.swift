#if canImport(Glibc)
import Glibc
#endif
import CKVM
import KVM
import Threads

/// A device backend on its own thread: it waits (epoll) on one eventfd per doorbell, written by
/// KVM ioeventfds when the guest writes the doorbell with no vCPU exit, and hands each rung
/// doorbell and its count to `ring(index, count)`.
///
/// Nothing is made before it is needed, from any thread: a doorbell's eventfd is made the first
/// time it is asked for and added to the epoll set then, and the thread starts with the first
/// eventfd (a guest that never rings a doorbell costs no thread). An idle device holds two
/// descriptors (the epoll set and the stop event), not one per doorbell. A ring that comes before
/// the thread runs waits in its eventfd's counter: the epoll set is level-triggered.
final class DoorbellBackend: Sendable {
    let count: Int
    private let doorbells: Locked<[EventFD?]>
    private let epoll: OwnedFileDescriptor
    private let stopEvent: EventFD
    private let name: String
    private let ring: @Sendable (Int, UInt64) -> Void
    private let thread = Locked<ThreadState>(.notStarted)
    /// epoll data of the stop event (doorbells use their index).
    private static let stopToken = UInt64.max

    private enum ThreadState {
        case notStarted
        case running(OSThread)
        case stopped
    }

    /// A backend for doorbells 0..<count whose thread, once started, is called `name` and calls
    /// `ring(index, count)` for each rung doorbell.
    init(count: Int, name: String, ring: @escaping @Sendable (Int, UInt64) -> Void) throws {
        self.count = count
        self.name = name
        self.ring = ring
        doorbells = Locked(Array(repeating: nil, count: count))
        let raw = ckvm_epoll_create()
        guard raw >= 0 else { throw KVMError.eventfd(operation: "epoll_create1 for doorbells", errno: -raw) }
        epoll = OwnedFileDescriptor(owning: raw)
        stopEvent = try EventFD(nonblocking: true)
        try Self.add(stopEvent, token: Self.stopToken, to: epoll)
    }

    /// Doorbell `index`'s eventfd, made and watched now if it has none (nil: out of range).
    /// Throws `KVMError` when the eventfd cannot be made or watched, `ThreadError` when the
    /// backend thread cannot start.
    func doorbell(_ index: Int) throws -> EventFD? {
        guard (0..<count).contains(index) else { return nil }
        let fd: EventFD = try doorbells.withLock { list in
            if let fd = list[index] { return fd }
            let fd = try EventFD(nonblocking: true)
            try Self.add(fd, token: UInt64(index), to: epoll)
            list[index] = fd
            return fd
        }
        try startThread()
        return fd
    }

    /// Doorbell eventfds made so far.
    var eventfdCount: Int { doorbells.withLock { $0.lazy.filter { $0 != nil }.count } }

    /// True while the backend thread runs.
    var isRunning: Bool { thread.withLock { if case .running = $0 { true } else { false } } }

    /// Starts the thread unless it runs or was stopped.
    private func startThread() throws(ThreadError) {
        try thread.withLock { (state: inout ThreadState) throws(ThreadError) in
            guard case .notStarted = state else { return }
            state = .running(try OSThread(name: name) { [self] in run(ring) })
        }
    }

    /// Stops and joins the backend thread; none starts afterwards. Idempotent.
    func stop() {
        let running: OSThread? = thread.withLock { state in
            defer { state = .stopped }
            if case let .running(t) = state { return t }
            return nil
        }
        guard let running else { return }
        try? stopEvent.signal()
        running.join()
    }

    private static func add(_ fd: EventFD, token: UInt64, to epoll: OwnedFileDescriptor) throws {
        let r = ckvm_epoll_add(epoll.rawValue, fd.rawValue, token)
        guard r == 0 else { throw KVMError.eventfd(operation: "epoll_ctl adding a doorbell", errno: -r) }
    }

    private func run(_ raise: @Sendable (Int, UInt64) -> Void) {
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            let ready = tokens.withUnsafeMutableBufferPointer { ckvm_epoll_wait(epoll.rawValue, $0.baseAddress, Int32($0.count)) }
            if ready < 0 {
                if ready == -EINTR { continue }
                return
            }
            for i in 0..<Int(ready) {
                let token = tokens[i]
                if token == Self.stopToken { return }
                let index = Int(token)
                let fd = doorbells.withLock { $0[index] }
                if let count = try? fd?.consume(), count > 0 { raise(index, count) }
            }
        }
    }
}
