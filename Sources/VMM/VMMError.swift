import KVM
import TextFormat
/// Failures of building or starting a machine, each naming the value at fault.
public enum VMMError: Error, Equatable, CustomStringConvertible {
    case memoryTooSmall(requested: UInt64, minimum: UInt64)
    case memoryTooLarge(requested: UInt64, limit: UInt64)
    case memoryNotAligned(UInt64)
    case vcpuCount(requested: Int, maximum: Int)
    case guestFile(path: String, reason: String)
    case hostFile(path: String, reason: String)
    case layout(String)
    /// An action the machine's phase does not allow (running twice, loading while running).
    case machinePhase(action: String, phase: Machine.Phase)

    public var description: String {
        switch self {
        case let .memoryTooSmall(requested, minimum):
            "memory size \(byteCount(requested)) is too small: the machine needs at least \(byteCount(minimum))"
        case let .memoryTooLarge(requested, limit):
            "memory size \(byteCount(requested)) does not fit below the PCI/MMIO windows at \(hex(limit)) (at most \(byteCount(limit)))"
        case let .memoryNotAligned(size):
            "memory size \(byteCount(size)) is not a multiple of 2 MiB"
        case let .vcpuCount(requested, maximum):
            "vCPU count \(requested) is out of range: 1…\(maximum)"
        case let .guestFile(path, reason):
            "cannot read guest \(path): \(reason)"
        case let .hostFile(path, reason):
            "cannot write \(path): \(reason)"
        case let .layout(message):
            "bad machine layout: \(message)"
        case let .machinePhase(action, phase):
            switch phase {
            case .built: "cannot \(action): no guest is loaded (call load first)"
            case .loaded: "cannot \(action): a guest is loaded and the machine has not run"
            case .running: "cannot \(action): the machine is running"
            case .finished: "cannot \(action): this machine has already run; build a new one"
            }
        }
    }
}
