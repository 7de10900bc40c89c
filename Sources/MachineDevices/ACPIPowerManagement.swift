import Devices
import Threads

/// The ACPI PM registers the PC machine's FADT points at (QEMU's PIIX4 layout from 0x600):
///
/// ```
///  0x600  PM1a_STS (16-bit): write 1 to clear a bit      0x602  PM1a_EN (16-bit)
///  0x604  PM1a_CNT (16-bit): SCI_EN (bit 0) always set, SLP_TYP (12:10), SLP_EN (13)
///  0x608  PM_TMR  (32-bit): a free-running counter at 3.579545 MHz
/// ```
/// Setting SLP_EN asks for the sleep state in SLP_TYP (`sleep`). There is no SCI: nothing here
/// interrupts the guest.
public final class ACPIPowerManagement: BusDevice {
    /// Ports the registers take from their base (0x600 on the pc machine): 0x600–0x60B.
    public static let portCount: UInt64 = 12
    /// The PM timer's frequency, in Hz.
    public static let timerFrequency: UInt64 = 3_579_545

    struct Registers {
        var status: UInt16 = 0, enable: UInt16 = 0, sleepType: UInt16 = 0
    }

    private let registers = Locked(Registers())
    private let start = ContinuousClock.now
    private let sleep: @Sendable (UInt8) -> Void

    /// `sleep(type)` runs on the vCPU that set SLP_EN, with the SLP_TYP it wrote.
    public init(sleep: @escaping @Sendable (UInt8) -> Void) {
        self.sleep = sleep
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        switch offset {
        case 0..<2: return UInt64(registers.withLock { $0.status }) >> (8 * offset)
        case 2..<4: return UInt64(registers.withLock { $0.enable }) >> (8 * (offset - 2))
        case 4..<6: return UInt64(registers.withLock { $0.sleepType << 10 | 1 }) >> (8 * (offset - 4))
        case 8..<12: return timer() >> (8 * (offset - 8))
        default: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let word = UInt16(truncatingIfNeeded: value)
        switch offset {
        case 0: registers.withLock { $0.status &= ~word }
        case 2: registers.withLock { $0.enable = word }
        case 4:
            let type = word >> 10 & 0x7
            registers.withLock { $0.sleepType = type }
            if word & 1 << 13 != 0 { sleep(UInt8(type)) }
        default: break
        }
    }

    /// Whether the guest enabled the RTC alarm as a wake event (PM1_EN.RTC_EN, bit 10).
    public var rtcWakeEnabled: Bool { registers.withLock { $0.enable & 1 << 10 != 0 } }

    /// Records a wake from sleep by the RTC: WAK_STS (15) and RTC_STS (10) in PM1_STS.
    public func wokeByRTC() {
        registers.withLock { $0.status |= 1 << 15 | 1 << 10 }
    }

    /// The PM timer's count now (32 bits, wrapping).
    func timer() -> UInt64 {
        let elapsed = (ContinuousClock.now - start).components
        let fraction = UInt64(elapsed.attoseconds / 1_000_000_000) * Self.timerFrequency / 1_000_000_000
        return (UInt64(elapsed.seconds) &* Self.timerFrequency &+ fraction) & 0xFFFF_FFFF
    }
}
