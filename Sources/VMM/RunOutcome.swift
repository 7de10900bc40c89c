import KVM
import TextFormat

/// How a run of a machine ended.
public enum RunOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The guest wrote `value` to the exit port (0 = pass).
    case guestExit(value: UInt64)
    /// A vCPU stopped on an exit it cannot go on from.
    case vcpuFailed(vcpu: Int, exit: String, rip: UInt64?)
    /// The run went past its time limit.
    case timeout(seconds: Double)
    /// The host side failed while running (an ioctl error, a device error).
    case hostError(String)
    /// The host ended the run (`Machine.stop()`).
    case stopped
    /// The guest turned the machine off (the pc machine's ACPI S5), or asked for a sleep state
    /// the machine does not offer.
    case poweredOff(reason: String)

    /// True only for a guest exit with value 0.
    public var passed: Bool { self == .guestExit(value: 0) }

    /// The process exit status the CLI reports: 0 for a pass; for a guest exit value V ≠ 0,
    /// (V << 1 | 1) & 0xFF as QEMU's isa-debug-exit (always odd, never 0); 124 for a timeout;
    /// 126 for a vCPU failure; 2 for a host error; 130 when the host stopped it; 4 when the
    /// guest powered off. All but the first are even, so they never collide with a guest's own
    /// status.
    public var exitStatus: Int32 {
        switch self {
        case let .guestExit(value): value == 0 ? 0 : Int32((value << 1 | 1) & 0xFF)
        case .timeout: 124
        case .vcpuFailed: 126
        case .hostError: 2
        case .stopped: 130
        case .poweredOff: 4
        }
    }

    public var description: String {
        switch self {
        case let .guestExit(value):
            value == 0 ? "guest passed (exit value 0)" : "guest failed: exit value \(value) (status \(exitStatus))"
        case let .vcpuFailed(vcpu, exit, rip):
            "vCPU \(vcpu) stopped on \(exit)" + (rip.map { " at RIP \(hex($0))" } ?? "")
        case let .timeout(seconds):
            "timeout: the guest did not exit within \(seconds) s"
        case let .hostError(message):
            "host error while running: \(message)"
        case .stopped:
            "stopped by the host"
        case let .poweredOff(reason):
            "the guest powered the machine off (\(reason))"
        }
    }
}
