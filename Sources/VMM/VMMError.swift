import KVM
import TextFormat
/// Failures of building or starting a machine, each naming the value at fault.
public enum VMMError: Error, Equatable, CustomStringConvertible {
    /// RAM at 0 is smaller than the machine needs: `requested` and `minimum` bytes (the
    /// reserved first MiB plus 1 MiB for a guest).
    case memoryTooSmall(requested: UInt64, minimum: UInt64)
    /// RAM at 0 (`requested` bytes) reaches past `limit`, the lowest guest-physical base of the
    /// layout's other regions (the PCI MMIO window, 0xC000_0000, by default).
    case memoryTooLarge(requested: UInt64, limit: UInt64)
    /// A RAM size (at 0, or above 4 GiB) that is not a multiple of 2 MiB, in bytes.
    case memoryNotAligned(UInt64)
    /// A vCPU count outside 1…`maximum` (the vCPU stacks below 1 MiB hold `maximum`).
    case vcpuCount(requested: Int, maximum: Int)
    /// A host file could not be read (`HostFile.read`): what it is (`kind`: "guest", "initrd",
    /// "trace", "suite manifest", …), its `path` and why, e.g. "no such file" or "not a regular
    /// file".
    case unreadableFile(kind: String, path: String, reason: String)
    /// A host file could not be written (`HostFile.write`: a report, a dumped device tree): its
    /// `path` and why.
    case hostFile(path: String, reason: String)
    /// Any other value the machine cannot be built with, or an operation it cannot do; the
    /// message names the value (overlapping regions with both ranges, a full PCI bus, …).
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
        case let .unreadableFile(kind, path, reason):
            "cannot read \(kind) \(path): \(reason)"
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
