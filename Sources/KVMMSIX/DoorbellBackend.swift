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
/// A doorbell's eventfd is made the first time it is asked for and added to the epoll set then,
/// from any thread: an idle device holds two descriptors (the epoll set and the stop event),
/// not one per doorbell.
final class DoorbellBackend: Sendable {
    let count: Int
    private let doorbells: Locked<[EventFD?]>
    private let epoll: OwnedFileDescriptor
    private let stopEvent: EventFD
    private let thread = Locked<OSThread?>(nil)
    /// epoll data of the stop event (doorbells use their index).
    private static let stopToken = UInt64.max

    /// A backend for doorbells 0..<count.
    init(count: Int) throws {
        self.count = count
        doorbells = Locked(Array(repeating: nil, count: count))
        let raw = ckvm_epoll_create()
        guard raw >= 0 else { throw KVMError.eventfd(operation: "epoll_create1 for doorbells", errno: -raw) }
        epoll = OwnedFileDescriptor(owning: raw)
        stopEvent = try EventFD(nonblocking: true)
        try Self.add(stopEvent, token: Self.stopToken, to: epoll)
    }

    /// Doorbell `index`'s eventfd, made and watched now if it has none (nil: out of range).
    func doorbell(_ index: Int) throws -> EventFD? {
        guard (0..<count).contains(index) else { return nil }
        return try doorbells.withLock { list in
            if let fd = list[index] { return fd }
            let fd = try EventFD(nonblocking: true)
            try Self.add(fd, token: UInt64(index), to: epoll)
            list[index] = fd
            return fd
        }
    }

    /// Doorbell eventfds made so far.
    var eventfdCount: Int { doorbells.withLock { $0.lazy.filter { $0 != nil }.count } }

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

    private static func add(_ fd: EventFD, token: UInt64, to epoll: OwnedFileDescriptor) throws {
        let r = ckvm_epoll_add(epoll.rawValue, fd.fd.rawValue, token)
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
