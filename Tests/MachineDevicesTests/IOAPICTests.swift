@testable import MachineDevices
import Synchronization
import Testing
import TestSupport

/// The VMM's IOAPIC (split irqchip): registers, edge and level semantics, message encoding.
@Suite struct IOAPICTests {
    /// Deliveries the IOAPIC made, in order.
    final class Recorder: Sendable {
        let deliveries = Mutex<[(pin: Int, message: IOAPIC.Message, level: Bool)]>([])
        let changes = Mutex<[Int]>([])
        var count: Int { deliveries.withLock { $0.count } }
        var last: (pin: Int, message: IOAPIC.Message, level: Bool)? { deliveries.withLock { $0.last } }
    }

    func make() -> (IOAPIC, Recorder) {
        let recorder = Recorder()
        let ioapic = IOAPIC(deliver: { pin, message, level in recorder.deliveries.withLock { $0.append((pin, message, level)) } },
                            entryChanged: { pin, _, _ in recorder.changes.withLock { $0.append(pin) } })
        return (ioapic, recorder)
    }

    func writeRegister(_ ioapic: IOAPIC, _ index: UInt8, _ value: UInt32) {
        ioapic.write(offset: 0, size: 1, value: UInt64(index))
        ioapic.write(offset: 0x10, size: 4, value: UInt64(value))
    }

    func readRegister(_ ioapic: IOAPIC, _ index: UInt8) -> UInt32 {
        ioapic.write(offset: 0, size: 1, value: UInt64(index))
        return UInt32(ioapic.read(offset: 0x10, size: 4))
    }

    func setEntry(_ ioapic: IOAPIC, pin: Int, _ entry: UInt64) {
        writeRegister(ioapic, UInt8(0x10 + 2 * pin), UInt32(truncatingIfNeeded: entry))
        writeRegister(ioapic, UInt8(0x11 + 2 * pin), UInt32(truncatingIfNeeded: entry >> 32))
    }

    @Test func registersReadAsAn82093AA() {
        let (ioapic, _) = make()
        #expect(readRegister(ioapic, 1) == 0x0017_0011, "version 0x11, 24 pins")
        writeRegister(ioapic, 1, 0xFFFF_FFFF)
        #expect(readRegister(ioapic, 1) == 0x0017_0011, "version is read-only")
        writeRegister(ioapic, 0, 0xFFFF_FFFF)
        #expect(readRegister(ioapic, 0) == 0x0F00_0000, "only ID bits 27:24 are writable")
        #expect(readRegister(ioapic, 2) == 0x0F00_0000, "arbitration ID follows the ID")
        for pin in 0..<24 { #expect(ioapic.entry(pin)! & (1 << 16) != 0, "pin \(pin) masked after reset") }
        #expect(readRegister(ioapic, 0x40) == 0, "past the last entry")
    }

    @Test func edgeIsLatchedWhileMaskedAndDeliveredOnUnmask() {
        let (ioapic, recorder) = make()
        setEntry(ioapic, pin: 4, 0x1_0031)  // masked, vector 0x31, edge
        ioapic.setLevel(pin: 4, high: true)
        ioapic.setLevel(pin: 4, high: false)
        #expect(recorder.count == 0, "masked: nothing delivered")
        setEntry(ioapic, pin: 4, 0x31)
        #expect(recorder.count == 1, "the latched edge goes out at unmask")
        #expect(recorder.last?.message == IOAPIC.Message(address: 0xFEE0_0000, data: 0x31))
        ioapic.setLevel(pin: 4, high: true)
        ioapic.setLevel(pin: 4, high: true)
        #expect(recorder.count == 2, "a line held high is one edge")
        #expect(recorder.last?.level == false)
    }

    @Test func levelWaitsForTheEOIAndRedeliversWhileAsserted() {
        let (ioapic, recorder) = make()
        setEntry(ioapic, pin: 14, 0x0300_0000_0000_8000 | 0x9A)  // level, vector 0x9A, destination 3
        ioapic.setLevel(pin: 14, high: true)
        #expect(recorder.count == 1)
        #expect(recorder.last?.message == IOAPIC.Message(address: 0xFEE0_3000, data: 0xC09A), "level, asserted, vector")
        #expect(ioapic.entry(14)! & (1 << 14) != 0, "Remote IRR set")
        ioapic.setLevel(pin: 14, high: false)
        ioapic.setLevel(pin: 14, high: true)
        #expect(recorder.count == 1, "no delivery while Remote IRR is set")
        ioapic.endOfInterrupt(vector: 0x9B)
        #expect(recorder.count == 1, "another vector's EOI does nothing")
        ioapic.endOfInterrupt(vector: 0x9A)
        #expect(recorder.count == 2, "still asserted at the EOI: delivered again")
        ioapic.setLevel(pin: 14, high: false)
        ioapic.endOfInterrupt(vector: 0x9A)
        #expect(recorder.count == 2, "low at the EOI: nothing")
        #expect(ioapic.entry(14)! & (1 << 14) == 0, "Remote IRR clear")
        setEntry(ioapic, pin: 14, 0x0300_0000_0000_8000 | 0x9A | 1 << 14)
        #expect(ioapic.entry(14)! & (1 << 14) == 0, "the guest cannot set Remote IRR")
    }

    @Test func maskedLevelIsDeliveredWhenUnmaskedIfStillAsserted() {
        let (ioapic, recorder) = make()
        setEntry(ioapic, pin: 10, 0x1_8040)
        ioapic.setLevel(pin: 10, high: true)
        #expect(recorder.count == 0)
        setEntry(ioapic, pin: 10, 0x8040)
        #expect(recorder.count == 1)
        #expect(recorder.changes.withLock { $0.contains(10) }, "the entry change was told")
    }

    @Test func messagesCarryLogicalModeExtendedIDsAndRemappableHandles() {
        // Logical destination 0x0F, delivery mode lowest priority (1), extended destination bits 55:49 = 0x05.
        let logical = IOAPIC.message(for: 0x0F00_0000_0000_0000 | 0x05 << 49 | 1 << 11 | 1 << 8 | 0x41)
        #expect(logical.address == 0xFEE0_F000 | 0x05 << 5 | 1 << 2)
        #expect(logical.data == 0x141)
        // Remappable: handle 0x8123 (bits 14:0 in 63:49, bit 15 in bit 11).
        let handle: UInt64 = 0x8123
        let remappable = IOAPIC.message(for: (handle & 0x7FFF) << 49 | 1 << 48 | (handle >> 15) << 11 | 1 << 15 | 0x55)
        #expect(remappable.address == 0xFEE0_0000 | (handle & 0x7FFF) << 5 | 1 << 4 | 1 << 2)
        #expect(remappable.data & 0xFF == 0x55)
    }

    /// Any register traffic and line changes (all guest- or device-controlled): no crash, and
    /// every delivery is for an unmasked pin; a level pin is not delivered twice without an EOI.
    @Test(arguments: testSeeds([1, 2, 3, 4]))
    func randomTrafficKeepsTheRules(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let (ioapic, recorder) = make()
        var awaitingEOI = Set<Int>()
        for _ in 0..<20_000 {
            let before = recorder.count
            switch random.next() % 6 {
            case 0: ioapic.write(offset: 0, size: 1, value: random.next() % 0x48)
            case 1: ioapic.write(offset: 0x10, size: 4, value: random.next() & (random.next() % 2 == 0 ? 0xFFFF_FFFF : 0x1_C0FF))
            case 2: ioapic.write(offset: random.next() % 0x100, size: [1, 2, 4, 8][Int(random.next() % 4)], value: random.next())
            case 3: _ = ioapic.read(offset: random.next() % 0x100, size: [1, 2, 4, 8][Int(random.next() % 4)])
            case 4: ioapic.setLevel(pin: Int(random.next() % 30) - 2, high: random.next() % 2 == 0)
            default:
                let vector = UInt8(truncatingIfNeeded: random.next())
                for pin in 0..<24 where UInt8(truncatingIfNeeded: ioapic.entry(pin)!) == vector { awaitingEOI.remove(pin) }
                ioapic.endOfInterrupt(vector: vector)
            }
            for d in recorder.deliveries.withLock({ Array($0[before...]) }) {
                let entry = ioapic.entry(d.pin)!
                #expect(entry & (1 << 16) == 0, "pin \(d.pin) delivered while masked; \(replayHint(seed))")
                if d.level {
                    #expect(!awaitingEOI.contains(d.pin), "level pin \(d.pin) delivered twice without an EOI; \(replayHint(seed))")
                    awaitingEOI.insert(d.pin)
                }
            }
            // A guest write that makes a pin edge-triggered drops its wait.
            for pin in awaitingEOI where ioapic.entry(pin)! & (1 << 15) == 0 { awaitingEOI.remove(pin) }
        }
    }
}
