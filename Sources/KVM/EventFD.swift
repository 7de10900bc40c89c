import CKVM

/// An eventfd(2): a counter the kernel (irqfd, ioeventfd) and threads signal each other with.
public final class EventFD: Sendable {
    /// The eventfd's descriptor, closed when the last reference to it goes away; pass its
    /// `rawValue` to KVM (irqfd, ioeventfd) or to epoll.
    public let fd: OwnedFileDescriptor

    /// Creates an eventfd with counter `initial`. `nonblocking` makes reads of an empty counter fail with EAGAIN.
    public init(initial: UInt32 = 0, nonblocking: Bool = false) throws {
        let raw = ckvm_eventfd(initial, nonblocking ? 1 : 0)
        if raw < 0 { throw KVMError.eventfd(operation: "eventfd()", errno: -raw) }
        fd = OwnedFileDescriptor(owning: raw)
    }

    /// Adds `value` to the counter (write(2)).
    public func signal(_ value: UInt64 = 1) throws {
        let r = ckvm_eventfd_write(fd.rawValue, value)
        if r < 0 { throw KVMError.eventfd(operation: "write to eventfd \(fd.rawValue)", errno: -r) }
    }

    /// Reads and clears the counter; nil when it is empty and the fd is nonblocking.
    public func consume() throws -> UInt64? {
        var value: UInt64 = 0
        let r = ckvm_eventfd_read(fd.rawValue, &value)
        if r == -EAGAIN_ { return nil }
        if r < 0 { throw KVMError.eventfd(operation: "read of eventfd \(fd.rawValue)", errno: -r) }
        return value
    }
}
