import Dispatch
import Devices
import Synchronization
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A device that answers reads with a value made of the offset and records writes.
final class RecordingDevice: BusDevice {
    let writes = Mutex<[(UInt64, Int, UInt64)]>([])
    func read(offset: UInt64, size: Int) -> UInt64 { 0xA000 + offset }
    func write(offset: UInt64, size: Int, value: UInt64) { writes.withLock { $0.append((offset, size, value)) } }
}

@Suite struct BusTests {
    @Test func routesAccessesToTheDeviceWithOffsets() throws {
        let bus = Bus(spaceName: "MMIO")
        let device = RecordingDevice()
        try bus.register(device, name: "dev", base: 0x1000, size: 0x100)
        #expect(bus.read(0x1010, size: 4) == 0xA010)
        bus.write(0x10FC, size: 4, value: 0xDEAD_BEEF)
        #expect(device.writes.withLock { $0.map(\.0) } == [0xFC])
        #expect(device.writes.withLock { $0.map(\.2) } == [0xDEAD_BEEF])
    }

    @Test func unclaimedReadsReturnAllOnesOfTheirSize() {
        let bus = Bus(spaceName: "port")
        #expect(bus.read(0x510, size: 1) == 0xFF)
        #expect(bus.read(0x510, size: 2) == 0xFFFF)
        #expect(bus.read(0x510, size: 4) == 0xFFFF_FFFF)
        #expect(bus.read(0x510, size: 8) == UInt64.max)
        bus.write(0x510, size: 4, value: 1)
        #expect(bus.unclaimedAccesses == 5)
    }

    @Test func unclaimedAccessesAreLoggedOnlyUpToTheLimit() {
        let lines = Mutex<[String]>([])
        let bus = Bus(spaceName: "MMIO", unclaimedLogLimit: 3) { line in lines.withLock { $0.append(line) } }
        for i in 0..<100 { _ = bus.read(UInt64(i) * 8, size: 4) }
        #expect(bus.unclaimedAccesses == 100)
        let logged = lines.withLock { $0 }
        #expect(logged.count == 3)
        #expect(logged[0] == "unclaimed MMIO read (4 bytes) at 0x0")
        #expect(logged[2].hasSuffix("(further messages like this are counted, not logged)"))
    }

    @Test func overlappingRangesAreRefusedWithBothNames() throws {
        let bus = Bus(spaceName: "MMIO")
        try bus.register(RecordingDevice(), name: "a", base: 0x1000, size: 0x1000)
        #expect(throws: BusError.self) { try bus.register(RecordingDevice(), name: "b", base: 0x1FFF, size: 1) }
        #expect(throws: BusError.self) { try bus.register(RecordingDevice(), name: "b", base: 0x0, size: 0x1001) }
        #expect(throws: BusError.self) { try bus.register(RecordingDevice(), name: "b", base: 0x800, size: 0x10000) }
        do {
            try bus.register(RecordingDevice(), name: "b", base: 0x1800, size: 0x10)
            Issue.record("overlap accepted")
        } catch {
            #expect(error.description == "cannot register b at [0x1800…0x180f]: overlaps a at [0x1000…0x1fff]")
        }
        // Adjacent ranges on both sides are fine.
        try bus.register(RecordingDevice(), name: "below", base: 0x0, size: 0x1000)
        try bus.register(RecordingDevice(), name: "above", base: 0x2000, size: 0x1000)
        #expect(bus.ranges.map(\.name) == ["below", "a", "above"])
    }

    @Test func emptyAndWrappingRangesAreRefused() {
        let bus = Bus(spaceName: "MMIO")
        #expect(throws: BusError.emptyRange(name: "z", base: 5)) { try bus.register(RecordingDevice(), name: "z", base: 5, size: 0) }
        #expect(throws: BusError.wrapsAround(name: "w", base: UInt64.max - 1, size: 3)) {
            try bus.register(RecordingDevice(), name: "w", base: UInt64.max - 1, size: 3)
        }
    }

    @Test func aRangeMayEndAtTheTopOfTheAddressSpace() throws {
        let bus = Bus(spaceName: "MMIO")
        try bus.register(RecordingDevice(), name: "top", base: UInt64.max - 0xFFF, size: 0x1000)
        #expect(bus.read(UInt64.max - 7, size: 8) == 0xA000 + 0xFF8)
        // An access running past the end wraps: it is not claimed.
        #expect(bus.read(UInt64.max - 3, size: 8) == UInt64.max)
    }

    @Test func accessesStraddlingTheEndOfARangeAreNotClaimed() throws {
        let bus = Bus(spaceName: "MMIO")
        let device = RecordingDevice()
        try bus.register(device, name: "dev", base: 0x1000, size: 0x10)
        #expect(bus.read(0x100E, size: 4) == 0xFFFF_FFFF)
        bus.write(0x100C, size: 8, value: 1)
        #expect(device.writes.withLock { $0.isEmpty })
        #expect(bus.read(0x100C, size: 4) == 0xA00C)
    }

    @Test func unregisterRemovesOnlyTheRangeAtThatBase() throws {
        let bus = Bus(spaceName: "MMIO")
        try bus.register(RecordingDevice(), name: "a", base: 0x1000, size: 0x10)
        #expect(!bus.unregister(base: 0x1004))
        #expect(bus.unregister(base: 0x1000))
        #expect(bus.read(0x1000, size: 4) == 0xFFFF_FFFF)
        try bus.register(RecordingDevice(), name: "again", base: 0x1000, size: 0x10)
    }

    /// A device whose reads wait until the test lets them go.
    final class GateDevice: BusDevice {
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let calls = Atomic<Int>(0)
        func read(offset: UInt64, size: Int) -> UInt64 {
            calls.add(1, ordering: .relaxed)
            entered.signal()
            release.wait()
            return 0x55
        }
        func write(offset: UInt64, size: Int, value: UInt64) { calls.add(1, ordering: .relaxed) }
    }

    @Test func unregisterWaitsForAnAccessAlreadyInTheDevice() throws {
        let bus = Bus(spaceName: "MMIO")
        let device = GateDevice()
        try bus.register(device, name: "gate", base: 0x1000, size: 0x10)
        let value = Atomic<UInt64>(0)
        let reader = TestThreads(1) { _ in value.store(bus.read(0x1000, size: 4), ordering: .relaxed) }
        device.entered.wait()
        let returned = Atomic<Bool>(false), unregistered = Atomic<Bool>(false)
        let remover = TestThreads(1) { _ in
            unregistered.store(bus.unregister(base: 0x1000), ordering: .relaxed)
            returned.store(true, ordering: .releasing)
        }
        // The range leaves the map at once, but unregister must not return while the read is
        // still inside the device.
        while !bus.ranges.isEmpty { sched_yield() }
        usleep(200_000)
        let returnedEarly = returned.load(ordering: .acquiring)
        #expect(!returnedEarly, "unregister returned with an access in the device")
        #expect(bus.read(0x1000, size: 4) == 0xFFFF_FFFF, "new accesses no longer find the range")
        device.release.signal()
        remover.join()
        reader.join()
        let wasRegistered = unregistered.load(ordering: .acquiring)
        let readValue = value.load(ordering: .relaxed)
        let calls = device.calls.load(ordering: .relaxed)
        #expect(wasRegistered)
        #expect(readValue == 0x55)
        #expect(calls == 1, "no call reached the device after unregister returned")
    }

    /// Lookups take no lock and read a map that changes under them: readers on two threads while
    /// a third registers and unregisters ranges 20,000 times. Every read returns the device's
    /// value or all ones, a range that stays registered is always found, and no map is freed
    /// under a reader (which would crash or read garbage).
    @Test func lookupsRacingThousandsOfMapChangesSeeOnlyWholeMaps() throws {
        let bus = Bus(spaceName: "MMIO")
        try bus.register(RecordingDevice(), name: "fixed", base: 0x10_0000, size: 0x1000)
        let stop = Atomic<Bool>(false), bad = Atomic<Int>(0), reads = Atomic<Int>(0)
        let readers = TestThreads(2) { _ in
            while !stop.load(ordering: .relaxed) {
                if bus.read(0x10_0010, size: 4) != 0xA010 { bad.add(1, ordering: .relaxed) }
                let moving = bus.read(0x2000, size: 4)
                if moving != 0xA000, moving != 0xFFFF_FFFF { bad.add(1, ordering: .relaxed) }
                reads.add(2, ordering: .relaxed)
            }
        }
        for i in 0..<20_000 {
            try bus.register(RecordingDevice(), name: "moving", base: 0x2000, size: 0x100)
            if i % 3 == 0 { try bus.register(RecordingDevice(), name: "other", base: 0x8000, size: 0x100) }
            bus.unregister(base: 0x2000)
            if i % 3 == 0 { bus.unregister(base: 0x8000) }
        }
        stop.store(true, ordering: .relaxed)
        readers.join()
        let badCount = bad.load(ordering: .relaxed), readCount = reads.load(ordering: .relaxed)
        #expect(badCount == 0)
        #expect(readCount > 0)
        #expect(bus.ranges.map(\.name) == ["fixed"])
    }

    @Test func lookupFindsEveryRangeAmongMany() throws {
        let bus = Bus(spaceName: "MMIO")
        // Register in a scrambled order; the map keeps them sorted.
        for i in (0..<200).map({ ($0 * 7919) % 200 }) {
            try bus.register(RecordingDevice(), name: "d\(i)", base: UInt64(i) * 0x100, size: 0x80)
        }
        for i in 0..<200 {
            #expect(bus.read(UInt64(i) * 0x100 + 0x7C, size: 4) == 0xA07C)
            #expect(bus.read(UInt64(i) * 0x100 + 0x80, size: 1) == 0xFF)
        }
    }

    @Test func valuesAreTruncatedToTheAccessSize() throws {
        let bus = Bus(spaceName: "port")
        let device = RecordingDevice()
        try bus.register(device, name: "dev", base: 0, size: 4)
        bus.write(0, size: 1, value: 0x1234)
        #expect(device.writes.withLock { $0[0].2 } == 0x34)
        #expect(bus.read(0, size: 1) == 0x00)  // 0xA000 & 0xFF
    }
}
