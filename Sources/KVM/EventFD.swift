import CKVM
import SystemPackage

/// An eventfd(2): a counter the kernel (irqfd, ioeventfd) and threads signal each other with.
///
/// It owns its descriptor itself (closed when the last reference goes away) rather than through
/// an `OwnedFileDescriptor`: a machine makes one per MSI-X vector in use, so one object each, not
/// two.
public final class EventFD: Sendable {
    /// The eventfd's descriptor, valid for the object's lifetime; pass `rawValue` to KVM (irqfd,
    /// ioeventfd) or to epoll.
    public let descriptor: FileDescriptor

    /// The raw descriptor number.
    public var rawValue: Int32 { descriptor.rawValue }

    /// Creates an eventfd with counter `initial`. `nonblocking` makes reads of an empty counter fail with EAGAIN.
    public init(initial: UInt32 = 0, nonblocking: Bool = false) throws {
        let raw = ckvm_eventfd(initial, nonblocking ? 1 : 0)
        if raw < 0 { throw KVMError.eventfd(operation: "eventfd()", errno: -raw) }
        descriptor = FileDescriptor(rawValue: raw)
    }

    deinit {
        // close(2) releases the number even when it reports an error (EINTR included): never retry.
        try? descriptor.close()
    }

    /// Adds `value` to the counter (write(2)).
    public func signal(_ value: UInt64 = 1) throws {
        let r = ckvm_eventfd_write(rawValue, value)
        if r < 0 { throw KVMError.eventfd(operation: "write to eventfd \(rawValue)", errno: -r) }
    }

    /// Reads and clears the counter; nil when it is empty and the fd is nonblocking.
    public func consume() throws -> UInt64? {
        var value: UInt64 = 0
        let r = ckvm_eventfd_read(rawValue, &value)
        if r == -EAGAIN_ { return nil }
        if r < 0 { throw KVMError.eventfd(operation: "read of eventfd \(rawValue)", errno: -r) }
        return value
    }
}
