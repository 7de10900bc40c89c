import CKVM

/// What failed in the KVM layer, with the ioctl or call, its argument and the errno.
///
/// The description reads like "KVM_SET_USER_MEMORY_REGION for slot 0 (64 MiB at 0x0) failed: EEXIST".
public enum KVMError: Error, Equatable, CustomStringConvertible {
    /// open(2) of the KVM device failed.
    case open(path: String, errno: Int32)
    /// An ioctl returned an error.
    case ioctl(name: String, argument: String, errno: Int32)
    /// mmap(2) failed.
    case mmap(what: String, size: Int, errno: Int32)
    /// eventfd(2) or a read/write of one failed.
    case eventfd(operation: String, errno: Int32)
    /// The kernel speaks another KVM API version than 12.
    case unsupportedAPIVersion(Int32)
    /// A capability the caller needs is absent.
    case missingCapability(String)
    /// The file opened but is not a KVM device (KVM_GET_API_VERSION is refused).
    case notKVMDevice(path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .open(path, errno):
            let hint: String
            switch errno {
            case ENOENT_: hint = " (no KVM on this machine: is the kvm module loaded?)"
            case EACCES_: hint = " (no permission: run as root or join the kvm group)"
            case EISDIR_: hint = " (is a directory, not the KVM device)"
            default: hint = ""
            }
            return "cannot open \(path): \(errnoName(errno))\(hint)"
        case let .ioctl(name, argument, errno):
            return argument.isEmpty
                ? "\(name) failed: \(errnoName(errno))"
                : "\(name) \(argument) failed: \(errnoName(errno))"
        case let .mmap(what, size, errno):
            return "mmap of \(what) (\(size) bytes) failed: \(errnoName(errno))"
        case let .eventfd(operation, errno):
            return "\(operation) failed: \(errnoName(errno))"
        case let .unsupportedAPIVersion(version):
            return "KVM_GET_API_VERSION returned \(version), this VMM needs 12"
        case let .notKVMDevice(path, errno):
            return "cannot use \(path): not a KVM device (KVM_GET_API_VERSION failed: \(errnoName(errno)))"
        case let .missingCapability(name):
            return "KVM does not offer \(name) on this machine"
        }
    }

    /// The errno this error carries, if any.
    public var errno: Int32? {
        switch self {
        case let .open(_, e), let .ioctl(_, _, e), let .mmap(_, _, e), let .eventfd(_, e), let .notKVMDevice(_, e): e
        case .unsupportedAPIVersion, .missingCapability: nil
        }
    }
}

let ENOENT_: Int32 = 2
let EISDIR_: Int32 = 21
let EACCES_: Int32 = 13
let EINTR_: Int32 = 4
let EAGAIN_: Int32 = 11

/// The symbolic name of an errno value ("EEXIST"), or "errno N".
public func errnoName(_ errno: Int32) -> String {
    String(cString: ckvm_errno_name(errno))
}

/// Issues an ioctl with a pointer argument; throws `KVMError.ioctl` naming it on failure.
@inline(__always)
func checkedIoctl(
    _ fd: Int32, _ request: UInt, _ name: @autoclosure () -> String,
    _ argument: @autoclosure () -> String = "", _ pointer: UnsafeMutableRawPointer?
) throws -> Int32 {
    let r = ckvm_ioctl(fd, request, pointer)
    if r < 0 { throw KVMError.ioctl(name: name(), argument: argument(), errno: -r) }
    return r
}

/// Issues an ioctl with an integer argument; throws `KVMError.ioctl` naming it on failure.
@inline(__always)
func checkedIoctl(
    _ fd: Int32, _ request: UInt, _ name: @autoclosure () -> String,
    _ argument: @autoclosure () -> String = "", value: UInt
) throws -> Int32 {
    let r = ckvm_ioctl_value(fd, request, value)
    if r < 0 { throw KVMError.ioctl(name: name(), argument: argument(), errno: -r) }
    return r
}
