import Devices

/// The exit port (0xF4): a write of value V of any size ends the run with that value (0: pass).
/// Reads return 0.
public final class ExitDevice: BusDevice {
    private let onExit: @Sendable (UInt64) -> Void

    /// `onExit(value)` runs on the writing vCPU's thread (a machine sets its outcome there and
    /// kicks the other vCPUs out).
    public init(onExit: @escaping @Sendable (UInt64) -> Void) {
        self.onExit = onExit
    }

    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        onExit(value)
    }
}
