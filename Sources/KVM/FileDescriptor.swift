import CKVM

/// An owned file descriptor, closed exactly once when the last reference goes away.
public final class FileDescriptor: Sendable {
    /// The raw descriptor. Valid for the lifetime of this object.
    public let rawValue: Int32

    /// Takes ownership of `rawValue`.
    public init(owning rawValue: Int32) {
        self.rawValue = rawValue
    }

    deinit {
        _ = ckvm_close(rawValue)
    }
}
