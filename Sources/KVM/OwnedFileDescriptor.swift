import SystemPackage

/// A file descriptor with one owner, closed exactly once when the last reference to it goes away.
///
/// swift-system's `FileDescriptor` is a plain value that says nothing of who closes it; KVM
/// objects (the system, a VM, a vCPU, an eventfd) share theirs between threads and objects that
/// outlive one another, so each is held by one of these and closed in `deinit`.
public final class OwnedFileDescriptor: Sendable {
    /// The descriptor, valid for the lifetime of this object.
    public let descriptor: FileDescriptor

    /// The raw descriptor number, for ioctls and epoll.
    public var rawValue: Int32 { descriptor.rawValue }

    /// Takes ownership of `rawValue`.
    public init(owning rawValue: Int32) {
        descriptor = FileDescriptor(rawValue: rawValue)
    }

    deinit {
        // close(2) releases the number even when it reports an error (EINTR included): never retry.
        try? descriptor.close()
    }
}
