import Devices

/// The part of the PC's 8042 keyboard controller that kernels use with no keyboard attached: the
/// status port (0x64) reads 0, so both buffers are empty and a kernel waiting to send a
/// command does not wait, the data port (0x60) reads 0, and command 0xFE (pulse the reset line)
/// written to 0x64 resets the machine, which ends the run (Linux's `reboot=k`). Every other
/// command and byte is ignored.
///
/// Registered on ports 0x60–0x64: offset 0 is the data port, 4 the status and command port.
/// (0x61, the PIT's gate and speaker port, belongs to KVM's in-kernel PIT, which serves it.)
public final class KeyboardController: BusDevice {
    /// Ports from the base (0x60) through the command port (0x64).
    public static let portCount: UInt64 = 5
    /// The command that pulses the CPU's reset line.
    public static let resetCommand: UInt64 = 0xFE
    private let reset: @Sendable () -> Void

    /// `reset()` runs on the vCPU that wrote the reset command.
    public init(reset: @escaping @Sendable () -> Void) {
        self.reset = reset
    }

    public func read(offset: UInt64, size: Int) -> UInt64 { 0 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        if offset == 4, value & 0xFF == Self.resetCommand { reset() }
    }
}
