#if canImport(Glibc)
import Glibc
#endif
import Devices
import Threads

/// The PC's MC146818 real-time clock and CMOS memory at ports 0x70 (index) and 0x71 (data), as
/// far as PC kernels and kvm-unit-tests use it: the time of day from the host's clock (BCD or
/// binary, 12- or 24-hour, as register B says), register A's update-in-progress flag in the last
/// 2 ms of each second, the alarm with its "don't care" values, register C's flags (cleared by
/// reading), and the other 114 bytes as plain CMOS memory. The alarm is checked whenever the
/// guest accesses the clock (there is no timer thread): a match raises IRQ 8 when AIE is set.
/// `nextAlarm` tells a sleeping machine when the alarm will wake it.
public final class RealTimeClock: BusDevice {
    /// Ports from the base (0x70 on the pc machine): index at base, data at base + 1.
    public static let portCount: UInt64 = 2
    // Register indexes and bits.
    static let secondsAlarm = 1, minutesAlarm = 3, hoursAlarm = 5
    static let registerA = 10, registerB = 11, registerC = 12, registerD = 13
    static let updateInProgress: UInt8 = 0x80
    static let alarmInterruptEnable: UInt8 = 0x20, binaryMode: UInt8 = 0x04, hours24: UInt8 = 0x02
    static let alarmFlag: UInt8 = 0x20, interruptFlag: UInt8 = 0x80
    static let dontCare: UInt8 = 0xC0

    struct State {
        var index = 0
        var memory = [UInt8](repeating: 0, count: 128)
        /// Seconds since the epoch whose alarm match was last delivered.
        var lastAlarmSecond: Int = -1
    }

    private let state: Locked<State>
    private let setIRQ: @Sendable (Bool) -> Void
    private let clock: @Sendable () -> (seconds: Int, fraction: Int)

    /// `setIRQ(level)` drives IRQ 8; `clock` is the time base (the host's wall clock, `now()`,
    /// unless a test gives another).
    public init(clock: @escaping @Sendable () -> (seconds: Int, fraction: Int) = RealTimeClock.now,
                setIRQ: @escaping @Sendable (Bool) -> Void) {
        self.clock = clock
        var s = State()
        s.memory[Self.registerA] = 0x26  // 32.768 kHz time base, 1024 Hz rate
        s.memory[Self.registerB] = Self.hours24
        s.memory[Self.registerD] = 0x80  // valid RAM and time
        state = Locked(s)
        self.setIRQ = setIRQ
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset == 1 else { return 0xFF }
        let (value, lower): (UInt8, Bool) = state.withLock { s in
            let now = clock()
            checkAlarm(&s, at: now.seconds)
            switch s.index {
            case 0, 2, 4, 6, 7, 8, 9: return (time(s, field: s.index, at: now.seconds), false)
            case Self.registerA:
                return (s.memory[Self.registerA] & 0x7F | (now.fraction >= 998_000 ? Self.updateInProgress : 0), false)
            case Self.registerC:
                let flags = s.memory[Self.registerC]
                s.memory[Self.registerC] = 0
                return (flags, flags != 0)
            default: return (s.memory[s.index], false)
            }
        }
        if lower { setIRQ(false) }
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let byte = UInt8(truncatingIfNeeded: value)
        state.withLock { s in
            if offset == 0 {
                s.index = Int(byte & 0x7F)  // bit 7 masks NMI
                return
            }
            switch s.index {
            case Self.registerC, Self.registerD: break  // read-only
            case Self.registerA: s.memory[Self.registerA] = byte & 0x7F
            default: s.memory[s.index] = byte
            }
        }
    }

    /// When the alarm next fires, in seconds since the epoch, if AIE is set; nil otherwise.
    public func nextAlarm() -> Int? {
        state.withLock { s in
            guard s.memory[Self.registerB] & Self.alarmInterruptEnable != 0 else { return nil }
            let now = clock().seconds
            for second in (now + 1)...(now + 86400) where matches(s, at: second) { return second }
            return nil
        }
    }

    /// Marks the alarm as fired (a sleeping machine woken by it): register C's flags.
    public func alarmFired() {
        state.withLock { s in s.memory[Self.registerC] |= Self.alarmFlag | Self.interruptFlag }
    }

    private func checkAlarm(_ s: inout State, at second: Int) {
        guard s.memory[Self.registerB] & Self.alarmInterruptEnable != 0, second != s.lastAlarmSecond, matches(s, at: second) else { return }
        s.lastAlarmSecond = second
        s.memory[Self.registerC] |= Self.alarmFlag | Self.interruptFlag
        setIRQ(true)
    }

    private func matches(_ s: State, at second: Int) -> Bool {
        func field(_ alarm: Int, _ field: Int) -> Bool {
            let want = s.memory[alarm]
            return want & Self.dontCare == Self.dontCare || want == time(s, field: field, at: second)
        }
        return field(Self.secondsAlarm, 0) && field(Self.minutesAlarm, 2) && field(Self.hoursAlarm, 4)
    }

    /// Time field `field` (0 seconds, 2 minutes, 4 hours, 6 weekday, 7 day, 8 month, 9 year) at
    /// `second`, UTC, encoded as register B says.
    private func time(_ s: State, field: Int, at second: Int) -> UInt8 {
        var t = time_t(second)
        var parts = tm()
        gmtime_r(&t, &parts)
        let b = s.memory[Self.registerB]
        var value: Int
        var pm = false
        switch field {
        case 0: value = Int(parts.tm_sec)
        case 2: value = Int(parts.tm_min)
        case 4:
            value = Int(parts.tm_hour)
            if b & Self.hours24 == 0 {
                pm = value >= 12
                value = value % 12 == 0 ? 12 : value % 12
            }
        case 6: value = Int(parts.tm_wday) + 1
        case 7: value = Int(parts.tm_mday)
        case 8: value = Int(parts.tm_mon) + 1
        default: value = Int(parts.tm_year) % 100
        }
        let encoded = b & Self.binaryMode != 0 ? UInt8(value) : UInt8((value / 10) << 4 | value % 10)
        return encoded | (pm ? 0x80 : 0)
    }

    /// The host's wall clock, the clock's time base: whole seconds since the epoch and
    /// microseconds into the second.
    public static func now() -> (seconds: Int, fraction: Int) {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return (Int(t.tv_sec), Int(t.tv_nsec / 1000))
    }
}
