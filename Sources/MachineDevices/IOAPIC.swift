import Devices
import Threads

/// An I/O APIC (82093AA, version 0x11, 24 pins) in the VMM, for a split irqchip: KVM keeps the
/// LAPICs and this model turns pin levels into MSI messages, as QEMU's userspace IOAPIC does.
///
/// Registers (MMIO, from `base`): IOREGSEL at 0x00 (the index), IOWIN at 0x10 (the indexed
/// 32-bit register): 0 the ID (bits 27:24), 1 the version (0x11, 23 in bits 23:16 as the last
/// pin), 2 the arbitration ID, 0x10 + 2n and 0x11 + 2n the low and high halves of pin n's
/// redirection entry. An entry is masked after reset.
///
/// Semantics, as KVM's and QEMU's models have them: a pin's level is the device's assertion
/// (polarity is not applied); an edge-triggered pin latches a rising edge, which is delivered
/// at once if the pin is unmasked or when it is unmasked; a level-triggered pin is delivered
/// while asserted and its Remote IRR clear, sets Remote IRR, and is delivered again after the
/// EOI of its vector if still asserted. An entry in remappable format (bit 48) makes a message
/// in the VT-d remappable format, which the interrupt remapper translates (`message(for:)`).
public final class IOAPIC: BusDevice {
    /// Where PCs place it.
    public static let base: UInt64 = 0xFEC0_0000
    /// Its MMIO window (KVM's in-kernel one decodes as much).
    public static let size: UInt64 = 0x100
    /// Pins, and the GSIs they are (0…23).
    public static let pinCount = 24
    /// The version register's low byte.
    public static let version: UInt32 = 0x11

    /// One message to a LAPIC: the address and data of an MSI write.
    public struct Message: Sendable, Equatable {
        /// The address of the write (0xFEEx_xxxx).
        public var address: UInt64
        /// The data written (vector, delivery mode, trigger mode).
        public var data: UInt32
        /// A message of `data` to `address`.
        public init(address: UInt64, data: UInt32) {
            self.address = address
            self.data = data
        }
    }

    struct State {
        var select: UInt8 = 0
        var id: UInt32 = 0
        var entries = [UInt64](repeating: Entry.masked, count: IOAPIC.pinCount)
        /// Asserted lines, and latched edges not yet delivered.
        var levels: UInt32 = 0
        var latched: UInt32 = 0
    }

    /// Redirection-entry bits.
    enum Entry {
        static let masked: UInt64 = 1 << 16
        static let levelTriggered: UInt64 = 1 << 15
        static let remoteIRR: UInt64 = 1 << 14
        static let deliveryStatus: UInt64 = 1 << 12
        static let logical: UInt64 = 1 << 11
        static let remappable: UInt64 = 1 << 48
        /// What a guest write leaves alone: Remote IRR and Delivery Status are the IOAPIC's.
        static let readOnly = remoteIRR | deliveryStatus
    }

    private let state = Locked(State())
    /// Sends a pin's message; `levelTriggered` says the pin waits for an EOI.
    private let deliver: @Sendable (_ pin: Int, _ message: Message, _ levelTriggered: Bool) -> Void
    private let entryChanged: @Sendable (_ pin: Int, _ message: Message, _ levelTriggered: Bool) -> Void

    /// An IOAPIC with ID 0 whose deliveries go to `deliver` (called with the IOAPIC's lock
    /// released; a machine sends the message through its interrupt remapper and KVM_SIGNAL_MSI).
    /// `entryChanged` is told each pin's message after the guest writes its entry, before any
    /// delivery the write causes (a split irqchip keeps level-triggered pins' messages as routes).
    public init(deliver: @escaping @Sendable (_ pin: Int, _ message: Message, _ levelTriggered: Bool) -> Void,
                entryChanged: @escaping @Sendable (_ pin: Int, _ message: Message, _ levelTriggered: Bool) -> Void = { _, _, _ in }) {
        self.deliver = deliver
        self.entryChanged = entryChanged
    }

    /// Pin `pin`'s redirection entry as the guest wrote it, with the IOAPIC's status bits.
    public func entry(_ pin: Int) -> UInt64? {
        guard (0..<Self.pinCount).contains(pin) else { return nil }
        return state.withLock { $0.entries[pin] }
    }

    /// Sets the line of `pin` (a GSI, 0…23); any other pin is ignored.
    public func setLevel(pin: Int, high: Bool) {
        guard (0..<Self.pinCount).contains(pin) else { return }
        let due = state.withLock { s -> Due in
            let bit = UInt32(1) << UInt32(pin)
            let wasHigh = s.levels & bit != 0
            if high { s.levels |= bit } else { s.levels &= ~bit }
            if high && !wasHigh && s.entries[pin] & Entry.levelTriggered == 0 { s.latched |= bit }
            return Self.service(&s, pins: bit)
        }
        send(due)
    }

    /// The EOI of `vector` (KVM_EXIT_IOAPIC_EOI): clears Remote IRR of the level-triggered pins
    /// with that vector, and delivers again those still asserted.
    public func endOfInterrupt(vector: UInt8) {
        let due = state.withLock { s -> Due in
            var pins: UInt32 = 0
            for pin in 0..<Self.pinCount {
                let e = s.entries[pin]
                guard UInt8(truncatingIfNeeded: e) == vector, e & Entry.remoteIRR != 0 else { continue }
                s.entries[pin] = e & ~Entry.remoteIRR
                pins |= 1 << UInt32(pin)
            }
            return Self.service(&s, pins: pins)
        }
        send(due)
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { s in
            switch offset {
            case 0: return UInt64(s.select)
            case 0x10...0x13:
                let value = Self.register(s, s.select)
                return UInt64(truncatingIfNeeded: value >> (8 * UInt32(offset - 0x10))) & allOnes(size: size)
            default: return 0
            }
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let (changed, due) = state.withLock { s -> (Int?, Due) in
            switch offset {
            case 0:
                s.select = UInt8(truncatingIfNeeded: value)
                return (nil, Due())
            case 0x10 where size == 4:
                let index = s.select
                let due = Self.setRegister(&s, index, UInt32(truncatingIfNeeded: value))
                return ((0x10..<0x10 + UInt8(2 * Self.pinCount)).contains(index) ? Int(index - 0x10) / 2 : nil, due)
            default:
                return (nil, Due())
            }
        }
        if let pin = changed, let e = entry(pin) { entryChanged(pin, Self.message(for: e), e & Entry.levelTriggered != 0) }
        send(due)
    }

    /// Pins due for delivery and the entries as they were then. The delivery reads the copy
    /// outside the lock; it shares the state's storage, so taking it allocates nothing.
    struct Due {
        var pins: UInt32 = 0
        var entries: [UInt64] = []
    }

    private func send(_ due: Due) {
        var rest = due.pins
        while rest != 0 {
            let pin = rest.trailingZeroBitCount
            rest &= rest - 1
            let e = due.entries[pin]
            deliver(pin, Self.message(for: e), e & Entry.levelTriggered != 0)
        }
    }

    static func register(_ s: State, _ index: UInt8) -> UInt32 {
        switch index {
        case 0: return s.id
        case 1: return Self.version | UInt32(Self.pinCount - 1) << 16
        case 2: return s.id
        case 0x10..<0x10 + UInt8(2 * pinCount):
            let entry = s.entries[Int(index - 0x10) / 2]
            return UInt32(truncatingIfNeeded: index & 1 == 0 ? entry : entry >> 32)
        default: return 0
        }
    }

    static func setRegister(_ s: inout State, _ index: UInt8, _ value: UInt32) -> Due {
        switch index {
        case 0:
            s.id = value & 0x0F00_0000
            return Due()
        case 0x10..<0x10 + UInt8(2 * pinCount):
            let pin = Int(index - 0x10) / 2
            var entry = s.entries[pin]
            if index & 1 == 0 {
                entry = (entry & 0xFFFF_FFFF_0000_0000) | UInt64(value)
            } else {
                entry = (entry & 0xFFFF_FFFF) | UInt64(value) << 32
            }
            entry = (entry & ~Entry.readOnly) | (s.entries[pin] & Entry.readOnly)
            // An edge-triggered pin has no Remote IRR.
            if entry & Entry.levelTriggered == 0 { entry &= ~Entry.remoteIRR }
            s.entries[pin] = entry
            return service(&s, pins: 1 << UInt32(pin))
        default:
            return Due()
        }
    }

    /// Takes the deliveries due on `pins` now, updating latched edges and Remote IRR.
    static func service(_ s: inout State, pins: UInt32) -> Due {
        var due: UInt32 = 0
        var rest = pins
        while rest != 0 {
            let pin = rest.trailingZeroBitCount
            rest &= rest - 1
            let bit = UInt32(1) << UInt32(pin)
            let e = s.entries[pin]
            guard e & Entry.masked == 0 else { continue }
            let level = e & Entry.levelTriggered != 0
            if level {
                guard s.levels & bit != 0, e & Entry.remoteIRR == 0 else { continue }
                s.entries[pin] = e | Entry.remoteIRR
            } else {
                guard s.latched & bit != 0 else { continue }
                s.latched &= ~bit
            }
            due |= bit
        }
        return due == 0 ? Due() : Due(pins: due, entries: s.entries)
    }

    /// The MSI message of redirection entry `e`: entry bits 63:48 become address bits 19:4 and
    /// bit 11 address bit 2, as QEMU's IOAPIC has it. For a compatibility-format entry that is
    /// the destination (19:12), extended destination bits 14:8 from entry bits 55:49 (11:5),
    /// and the destination mode (2); for a remappable one (bit 48), the VT-d format bit (4) and
    /// the interrupt handle (bits 19:5 and 2, VT-d 5.1.5.1).
    static func message(for e: UInt64) -> Message {
        let level = e & Entry.levelTriggered != 0
        let address = 0xFEE0_0000 | (e >> 48) << 4 | ((e >> 11) & 1) << 2
        let data = UInt32(truncatingIfNeeded: e & 0x7FF) | (level ? 1 << 15 | 1 << 14 : 0)  // vector, delivery mode
        return Message(address: address, data: data)
    }
}
