import Devices

/// The exit port (0xF4): a write of value V of any size ends the run with `.guestExit(V)`.
/// Reads return 0.
final class ExitDevice: BusDevice {
    private let completion: Completion
    private let onExit: @Sendable () -> Void

    /// `onExit` runs after the outcome is set (the machine kicks the other vCPUs out there).
    init(completion: Completion, onExit: @escaping @Sendable () -> Void) {
        self.completion = completion
        self.onExit = onExit
    }

    func read(offset: UInt64, size: Int) -> UInt64 { 0 }

    func write(offset: UInt64, size: Int, value: UInt64) {
        if completion.finish(.guestExit(value: value)) { onExit() }
    }
}
