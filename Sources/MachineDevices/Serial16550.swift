import Devices
import Threads

/// A 16550A UART for the PC machine's COM1: the register set a driver programs (divisor latch,
/// IER, IIR/FCR, LCR, MCR, LSR, MSR, scratch), transmission that completes at once into a
/// `ConsoleDevice` (its transcript and standard output), and the transmitter-empty interrupt on
/// its IRQ line, held high while pending and enabled (level semantics, as the ISA line behaves
/// in QEMU). Nothing is ever received: LSR never shows data ready.
public final class Serial16550: BusDevice {
    struct Registers {
        var ier: UInt8 = 0, lcr: UInt8 = 0, mcr: UInt8 = 0, scr: UInt8 = 0, fcr: UInt8 = 0
        var divisor: UInt16 = 12  // 9600 baud
        /// A transmitter-empty interrupt waits to be seen in IIR.
        var transmitterEmptyPending = false
        var line = false
    }

    // IER, IIR and LSR bits.
    static let transmitterEmptyInterrupt: UInt8 = 0x02
    static let lineStatusEmpty: UInt8 = 0x60  // THRE | TEMT
    static let modemStatusIdle: UInt8 = 0xB0  // DCD | DSR | CTS

    private let console: ConsoleDevice
    private let setLine: @Sendable (Bool) -> Void
    private let registers = Locked(Registers())

    /// - Parameters:
    ///   - console: where transmitted bytes go.
    ///   - setLine: drives the IRQ line (a machine passes KVM_IRQ_LINE on GSI 4); called only
    ///     when the level changes, with the register lock held so levels never reorder.
    public init(console: ConsoleDevice, setLine: @escaping @Sendable (Bool) -> Void) {
        self.console = console
        self.setLine = setLine
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        registers.withLock { r in
            let dlab = r.lcr & 0x80 != 0
            let value: UInt8
            switch offset {
            case 0: value = dlab ? UInt8(truncatingIfNeeded: r.divisor) : 0  // RBR: nothing received
            case 1: value = dlab ? UInt8(truncatingIfNeeded: r.divisor >> 8) : r.ier
            case 2:
                // IIR: the transmitter-empty interrupt, if pending and enabled; reading it clears it.
                let fifo: UInt8 = r.fcr & 1 != 0 ? 0xC0 : 0
                if r.transmitterEmptyPending, r.ier & Self.transmitterEmptyInterrupt != 0 {
                    r.transmitterEmptyPending = false
                    update(&r)
                    value = fifo | 0x02
                } else {
                    value = fifo | 0x01
                }
            case 3: value = r.lcr
            case 4: value = r.mcr
            case 5: value = Self.lineStatusEmpty
            case 6: value = r.mcr & 0x10 != 0 ? (r.mcr & 0x0C) << 4 | (r.mcr & 0x01) << 5 | (r.mcr & 0x02) << 3 : Self.modemStatusIdle
            default: value = r.scr
            }
            return UInt64(value)
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        registers.withLock { r in
            let dlab = r.lcr & 0x80 != 0
            switch offset {
            case 0 where dlab: r.divisor = r.divisor & 0xFF00 | UInt16(byte)
            case 0:
                console.write(offset: 0, size: 1, value: UInt64(byte))
                r.transmitterEmptyPending = true  // sent at once: the holding register is empty again
            case 1 where dlab: r.divisor = r.divisor & 0x00FF | UInt16(byte) << 8
            case 1:
                let enabling = byte & Self.transmitterEmptyInterrupt != 0 && r.ier & Self.transmitterEmptyInterrupt == 0
                r.ier = byte & 0x0F
                if enabling { r.transmitterEmptyPending = true }  // the register is empty: say so
            case 2: r.fcr = byte
            case 3: r.lcr = byte
            case 4: r.mcr = byte & 0x1F
            case 7: r.scr = byte
            default: break  // LSR and MSR are read-only
            }
            update(&r)
        }
    }

    /// Whether the IRQ line is high now.
    public var lineIsHigh: Bool { registers.withLock { $0.line } }

    private func update(_ r: inout Registers) {
        let level = r.transmitterEmptyPending && r.ier & Self.transmitterEmptyInterrupt != 0
        guard level != r.line else { return }
        r.line = level
        setLine(level)
    }
}
