#if canImport(Glibc)
import Glibc
#endif
import Devices
@testable import MachineDevices
import Synchronization
import Testing

@Suite struct RealTimeClockTests {
    func read(_ rtc: RealTimeClock, _ index: UInt64) -> UInt8 {
        rtc.write(offset: 0, size: 1, value: index)
        return UInt8(rtc.read(offset: 1, size: 1))
    }

    func write(_ rtc: RealTimeClock, _ index: UInt64, _ value: UInt8) {
        rtc.write(offset: 0, size: 1, value: index)
        rtc.write(offset: 1, size: 1, value: UInt64(value))
    }

    @Test func theTimeIsTheHostsInBCDOrBinary() {
        let rtc = RealTimeClock { _ in }
        var t = time(nil)
        var now = tm()
        gmtime_r(&t, &now)
        let bcdMinutes = read(rtc, 2)
        let minutes = Int(bcdMinutes >> 4) * 10 + Int(bcdMinutes & 0xF)
        #expect(abs(minutes - Int(now.tm_min)) <= 1 || abs(minutes - Int(now.tm_min)) == 59, "BCD minutes \(bcdMinutes) vs \(now.tm_min)")
        write(rtc, 11, 0x06)  // binary, 24-hour
        let binaryHours = Int(read(rtc, 4))
        #expect(abs(binaryHours - Int(now.tm_hour)) <= 1 || abs(binaryHours - Int(now.tm_hour)) == 23)
        #expect(read(rtc, 13) == 0x80, "register D: valid")
        write(rtc, 0x40, 0x5A)
        #expect(read(rtc, 0x40) == 0x5A, "CMOS memory")
    }

    /// UIP (register A bit 7) is set in the last 2 ms of each second and clear otherwise, read
    /// from a clock the test sets (polling the host's clock for it failed on a loaded machine).
    @Test func updateInProgressShowsInTheLastTwoMillisecondsOfASecond() {
        let fraction = Mutex(0)
        let rtc = RealTimeClock(clock: { (1_700_000_000, fraction.withLock { $0 }) }) { _ in }
        for (micros, set) in [(0, false), (500_000, false), (997_999, false), (998_000, true), (999_999, true)] {
            fraction.withLock { $0 = micros }
            #expect((read(rtc, 10) & 0x80 != 0) == set, "UIP at \(micros) µs into the second")
        }
    }

    @Test func anAlarmOfDontCaresFiresEverySecondAndRegisterCClearsIt() {
        let levels = Mutex<[Bool]>([])
        let rtc = RealTimeClock { level in levels.withLock { $0.append(level) } }
        #expect(rtc.nextAlarm() == nil, "AIE clear: no alarm")
        for index: UInt64 in [1, 3, 5] { write(rtc, index, 0xC0) }
        write(rtc, 11, read(rtc, 11) | 0x20)
        let next = rtc.nextAlarm()
        #expect(next != nil && next! > Int(time(nil)) - 1 && next! <= Int(time(nil)) + 1)
        let clock = ContinuousClock(), start = clock.now
        while levels.withLock({ $0 }).isEmpty, clock.now - start < .seconds(3) { _ = read(rtc, 0) }
        #expect(levels.withLock { $0 }.first == true, "IRQ 8 raised by the alarm")
        // A second may tick over between two reads and fire the alarm again: judge the line's
        // last level after each read of C, and stop the alarm before checking that C clears.
        #expect(read(rtc, 12) & 0xA0 == 0xA0, "register C: IRQF and AF")
        #expect(levels.withLock { $0 }.last == false, "reading C lowers the line")
        write(rtc, 11, read(rtc, 11) & ~0x20)
        _ = read(rtc, 12)
        #expect(read(rtc, 12) == 0, "and clears it")
    }
}

@Suite struct ACPIPowerManagementTests {
    @Test func sleepStatesStatusBitsAndTheTimer() {
        let slept = Mutex<[UInt8]>([])
        let pm = ACPIPowerManagement { type in slept.withLock { $0.append(type) } }
        #expect(pm.read(offset: 4, size: 2) & 1 == 1, "SCI_EN: ACPI mode")
        pm.write(offset: 4, size: 2, value: 1 << 10)  // SLP_TYP 1 without SLP_EN
        #expect(slept.withLock { $0 }.isEmpty)
        pm.write(offset: 4, size: 2, value: 1 << 10 | 1 << 13)
        pm.write(offset: 4, size: 2, value: 0 << 10 | 1 << 13)
        #expect(slept.withLock { $0 } == [1, 0], "S3, then S5")
        pm.write(offset: 2, size: 2, value: 0x400)
        #expect(pm.rtcWakeEnabled)
        pm.wokeByRTC()
        #expect(pm.read(offset: 0, size: 2) == 0x8400)
        pm.write(offset: 0, size: 2, value: 0x8000)
        #expect(pm.read(offset: 0, size: 2) == 0x0400, "write 1 to clear")
        let t0 = pm.read(offset: 8, size: 4)
        usleep(2000)
        let t1 = pm.read(offset: 8, size: 4)
        let ticks = (t1 &- t0) & 0xFFFF_FFFF
        #expect(ticks >= 7000 && ticks < 3_579_545, "2 ms at 3.58 MHz is about 7159 ticks, got \(ticks)")
    }
}

@Suite struct PCITestDeviceHeaderTests {
    @Test func theHeaderReadsAsQEMUsLayout() {
        let test = PCITestDevice.tests[4]  // portio-wildcard-eventfd
        let bytes = (0..<64).map { PCITestDevice.headerByte(test, count: 0x0102_0304, at: UInt64($0)) }
        let name = Array("portio-wildcard-eventfd".utf8)
        #expect(bytes[0..<16].map { $0! } == [0, 1, 0, 0, 132, 0, 0, 0, 0xCE, 0, 0, 0, 4, 3, 2, 1])
        #expect(bytes[16..<(16 + name.count)].map { $0! } == name)
        #expect(bytes[16 + name.count] == 0, "NUL-terminated")
        #expect(bytes[(17 + name.count)...].allSatisfy { $0 == nil }, "nothing past the name")
        #expect(PCITestDevice.headerByte(test, count: 0, at: .max) == nil)
    }
}

@Suite struct PCTestDeviceTests {
    final class Calls: Sendable {
        let lines = Mutex<[UInt32: Bool]>([:])
        let flushed = Mutex<[UInt64]>([])
    }

    static func device() throws -> (ports: Bus, mmio: Bus, calls: Calls) {
        let calls = Calls()
        let device = PCTestDevice(setIRQLine: { line, high in calls.lines.withLock { $0[line] = high } },
                                  flushPage: { address in calls.flushed.withLock { $0.append(address) } })
        let ports = Bus(spaceName: "port"), mmio = Bus(spaceName: "MMIO")
        try device.register(portBus: ports, mmioBus: mmio)
        return (ports, mmio, calls)
    }

    @Test func theScratchRegisterKeepsItsByteLanesOnBothPortBlocks() throws {
        let (ports, _, _) = try Self.device()
        ports.write(0xE0, size: 4, value: 0x1122_3344)
        #expect(ports.read(0xE0, size: 4) == 0x1122_3344)
        ports.write(0xE2, size: 1, value: 0xAB)
        #expect(ports.read(0xE8, size: 4) == 0x11AB_3344)
        #expect(ports.read(0xEB, size: 1) == 0x11)
        ports.write(0xEA, size: 2, value: 0xFFFF_CDEF)
        #expect(ports.read(0xE0, size: 4) == 0xCDEF_3344)
    }

    @Test func onlyAFourByteWriteFlushesAPageAndIRQLinesStopAt15() throws {
        let (ports, _, calls) = try Self.device()
        ports.write(0xE4, size: 2, value: 0x1234)
        ports.write(0xE4, size: 4, value: 0x0012_3456)
        #expect(calls.flushed.withLock { $0 } == [0x0012_3000])
        #expect(ports.read(0xE4, size: 4) == 0)
        ports.write(0x2000 + 14, size: 4, value: 0x0101_0001)
        #expect(calls.lines.withLock { $0 } == [14: true, 15: false])
        #expect(ports.read(0x2000, size: 1) == 0)
    }

    @Test func iomemReadsZeroUntilWrittenAndKeepsWhatIsWrittenLittleEndian() throws {
        let (_, mmio, _) = try Self.device()
        let base = PCTestDevice.memoryBase, top = base + PCTestDevice.memorySize
        #expect(mmio.read(base, size: 8) == 0)
        #expect(mmio.read(top - 1, size: 1) == 0)
        mmio.write(base + 0x100, size: 8, value: 0x0102_0304_0506_0708)
        #expect(mmio.read(base + 0x100, size: 8) == 0x0102_0304_0506_0708)
        #expect(mmio.read(base + 0x101, size: 2) == 0x0607)
        #expect(mmio.read(base + 0xF8, size: 8) == 0, "the bytes around a write stay 0")
        #expect(mmio.read(top - 1, size: 1) == 0)
        mmio.write(top - 1, size: 1, value: 0x5A)
        #expect(mmio.read(top - 1, size: 1) == 0x5A)
        #expect(mmio.unclaimedAccesses == 0)
    }
}
