import Synchronization
import Threads

/// The VM ioctls whose failure paths a test can force (the interrupt plumbing's).
public enum KVMInjectableIoctl: String, Sendable, CaseIterable {
    /// `KVM_IRQFD`, both attaching and detaching an irqfd.
    case irqfd = "KVM_IRQFD"
    /// `KVM_IOEVENTFD`, both registering and removing an ioeventfd.
    case ioeventfd = "KVM_IOEVENTFD"
    /// `KVM_SET_GSI_ROUTING`, which replaces the VM's whole GSI routing table.
    case setGSIRouting = "KVM_SET_GSI_ROUTING"
    /// `KVM_SIGNAL_MSI`, which injects one MSI message.
    case signalMSI = "KVM_SIGNAL_MSI"
}

/// A test seam, as apple/swift-system mocks its system calls: the next calls of an ioctl on one
/// VM fail with an errno chosen by the test, without reaching the kernel, so error paths (a route
/// committed, then an irqfd refused) can be exercised on a real VM. It can also record the order
/// in which those ioctls are issued. Unarmed, it costs one relaxed atomic load per ioctl.
public final class KVMFaultInjection: Sendable {
    private let armed = Atomic<Bool>(false)
    private let plan = Locked<[KVMInjectableIoctl: [Int32]]>([:])
    private let log = Locked<[KVMInjectableIoctl]?>(nil)

    init() {}

    /// Makes the next `count` calls of `ioctl` fail with `errno` (queued after earlier ones).
    public func failNext(_ ioctl: KVMInjectableIoctl, errno: Int32, count: Int = 1) {
        plan.withLock { $0[ioctl, default: []] += Array(repeating: errno, count: max(0, count)) }
        armed.store(true, ordering: .releasing)
    }

    /// Forgets every planned failure and stops recording.
    public func clear() {
        plan.withLock { $0.removeAll() }
        log.withLock { $0 = nil }
        armed.store(false, ordering: .releasing)
    }

    /// Starts (or restarts) recording every call of the injectable ioctls, in issue order.
    public func startRecording() {
        log.withLock { $0 = [] }
        armed.store(true, ordering: .releasing)
    }

    /// The calls recorded since `startRecording` (failed ones included).
    public var recorded: [KVMInjectableIoctl] { log.withLock { $0 ?? [] } }

    /// The errno the next call of `ioctl` must fail with, if one is planned (and takes it).
    @inline(__always)
    func take(_ ioctl: KVMInjectableIoctl) -> Int32? {
        guard armed.load(ordering: .relaxed) else { return nil }
        log.withLock { $0?.append(ioctl) }
        return plan.withLock { p in
            guard var queue = p[ioctl], !queue.isEmpty else { return nil }
            let errno = queue.removeFirst()
            p[ioctl] = queue.isEmpty ? nil : queue
            return errno
        }
    }
}
