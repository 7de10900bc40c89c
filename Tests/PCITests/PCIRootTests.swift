import Devices
import Dispatch
@testable import PCI
import Synchronization
import Testing
import TestSupport

/// Attaching and detaching functions, window allocation and re-evaluated mappings.
@Suite struct PCIRootTests {
    func makeFunction(_ name: String, bar0: UInt64 = 0x4000, model: RegisterModel = RegisterModel()) throws -> PCIFunction {
        let function = PCIFunction(name: name, identity: .init(vendorID: 0x5357, deviceID: 0x0001, classCode: 0xFF_0000), model: model)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: bar0))
        return function
    }

    @Test func aBadFunctionNumberIsReportedAsSuch() throws {
        let bed = PCITestBed()
        #expect(throws: PCIError.functionOutOfRange(8)) { try bed.root.attach(try makeFunction("f"), at: PCIAddress(device: 3, function: 8)) }
        #expect(throws: PCIError.slotOutOfRange(32)) { try bed.root.attach(try makeFunction("f"), at: PCIAddress(device: 32)) }
        #expect(throws: PCIError.slotOutOfRange(-1)) { try bed.root.attach(try makeFunction("f"), at: PCIAddress(device: -1)) }
    }

    @Test func aFailedAttachLeavesNothingBehind() throws {
        let bed = PCITestBed()  // MMIO window: 512 MiB at 0xC000_0000
        let big = PCIFunction(name: "big", identity: .init(vendorID: 1, deviceID: 2, classCode: 0), model: RegisterModel())
        try big.defineBar(0, PCIBarDefinition(kind: .memory32, size: 0x1000))
        try big.defineBar(1, PCIBarDefinition(kind: .memory32, size: 1 << 30))  // cannot fit
        #expect(throws: PCIError.windowExhausted(size: 1 << 30, window: "MMIO")) { try bed.root.attach(big, at: PCIAddress(device: 3)) }
        #expect(bed.root.function(at: PCIAddress(device: 3)) == nil, "the slot stays free")
        #expect(bed.cf8Read(device: 3, offset: 0, size: 4) == 0xFFFF_FFFF)
        #expect(bed.mmioBus.ranges.count == 1, "only ECAM is mapped: \(bed.mmioBus.ranges)")
        // The BAR0 address taken before the failure went back: the next function gets it.
        let next = try makeFunction("next", bar0: 0x1000)
        try bed.root.attach(next, at: PCIAddress(device: 3))
        #expect(next.mappedAddress(ofBar: 0) == 0xC000_0000)
        #expect(throws: PCIError.functionAttached(name: "next")) { try bed.root.attach(next, at: PCIAddress(device: 4)) }
        #expect(throws: PCIError.slotTaken(PCIAddress(device: 3))) { try bed.root.attach(try makeFunction("again"), at: PCIAddress(device: 3)) }
    }

    @Test func detachUnmapsTheBarsAndGivesTheirAddressesBack() throws {
        let bed = PCITestBed()
        let model = RegisterModel()
        let first = try makeFunction("first", model: model)
        try bed.root.attach(first, at: PCIAddress(device: 3))
        let address = try #require(first.mappedAddress(ofBar: 0))
        #expect(bed.mmioBus.read(address, size: 4) == RegisterModel.magic)
        #expect(bed.root.detach(at: PCIAddress(device: 3)) === first)
        #expect(bed.mmioBus.read(address, size: 4) == 0xFFFF_FFFF, "BAR0 is unmapped")
        #expect(bed.cf8Read(device: 3, offset: 0, size: 4) == 0xFFFF_FFFF, "the slot reads as empty")
        #expect(model.moves.withLock { $0.last?.1 } == nil, "the model heard of the unmapping")
        #expect(bed.root.detach(at: PCIAddress(device: 3)) == nil)
        #expect(bed.root.detach(at: PCIAddress(device: 0)) == nil, "the host bridge stays")
        let second = try makeFunction("second")
        try bed.root.attach(second, at: PCIAddress(device: 5))
        #expect(second.mappedAddress(ofBar: 0) == address, "the freed address is handed out again")
        try bed.root.attach(first, at: PCIAddress(device: 3))  // a detached function may come back
        #expect(first.mappedAddress(ofBar: 0) != nil)
    }

    @Test func detachingFunctionZeroOfAMultiFunctionDeviceKeepsTheBitRight() throws {
        let bed = PCITestBed()
        try bed.root.attach(try makeFunction("f0"), at: PCIAddress(device: 3))
        try bed.root.attach(try makeFunction("f1"), at: PCIAddress(device: 3, function: 1))
        #expect(bed.cf8Read(device: 3, offset: 0x0E, size: 1) == 0x80)
        bed.root.detach(at: PCIAddress(device: 3, function: 1))
        #expect(bed.cf8Read(device: 3, offset: 0x0E, size: 1) == 0x00, "a single function again")
    }

    @Test func windowsAreValidatedAndAllocationNeverWraps() throws {
        let port = Bus(spaceName: "port"), mmio = Bus(spaceName: "MMIO")
        #expect(throws: PCIError.badWindow(name: "MMIO", base: 0xFFFF_F000, size: 0x2000)) {
            try PCIRoot(portBus: port, mmioBus: mmio, mmioWindow: (0xFFFF_F000, 0x2000), ioWindow: (0xC000, 0x100), log: { _ in })
        }
        #expect(throws: PCIError.badWindow(name: "I/O", base: 0xC000, size: 0)) {
            try PCIRoot(portBus: port, mmioBus: mmio, mmioWindow: (0xC000_0000, 0x1000), ioWindow: (0xC000, 0), log: { _ in })
        }
        // A window that ends at 4 GiB: a BAR larger than what is left is refused, not wrapped.
        let root = try PCIRoot(portBus: port, mmioBus: mmio, mmioWindow: (0xFFFF_0000, 0x1_0000), ioWindow: (0xC000, 0x100), log: { _ in })
        let function = PCIFunction(name: "f", identity: .init(vendorID: 1, deviceID: 2, classCode: 0), model: RegisterModel())
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: 0x8000))
        try function.defineBar(1, PCIBarDefinition(kind: .memory32, size: 0x1_0000))
        #expect(throws: PCIError.windowExhausted(size: 0x1_0000, window: "MMIO")) { try root.attach(function, at: PCIAddress(device: 1)) }
        var allocator = try PCIWindowAllocator(mmio: (0xFFFF_0000, 0x1_0000), io: (0xC000, 0x100))
        #expect(try allocator.allocate(PCIBarDefinition(kind: .memory32, size: 0x8000)) == 0xFFFF_0000)
        #expect(try allocator.allocate(PCIBarDefinition(kind: .memory32, size: 0x4000)) == 0xFFFF_8000)
        #expect(throws: PCIError.self) { try allocator.allocate(PCIBarDefinition(kind: .memory32, size: 0x8000)) }
        #expect(try allocator.allocate(PCIBarDefinition(kind: .io, size: 0x100)) == 0xC000)
    }

    @Test func writeMasksAtNegativeOrPastTheEndOffsetsAreIgnored() {
        var space = PCIConfigSpace()
        space.setWritable(-2, size: 4, mask: 0xFFFF_FFFF)
        space.setWriteOneToClear(-3, size: 4, mask: 0xFFFF_FFFF)
        space.setWritable(254, size: 4, mask: 0xFFFF_FFFF)
        space.guestWrite(0, size: 2, value: 0xABCD)
        // Bytes 0 and 1 took the writable mask; byte 0 also took write-1-to-clear (the last byte
        // of the -3…0 range), so the 1s written there clear it again.
        #expect(space.read(0, size: 2) == 0xAB00)
        space.guestWrite(2, size: 2, value: 0x1234)
        #expect(space.read(2, size: 2) == 0, "byte 2 has no mask")
    }

    /// Two BAR0s overlapped by the guest: the later one is refused; once the guest moves the
    /// first away, the refused one works without being written again.
    @Test func aRefusedBarIsMappedOnceTheOverlapGoesAway() throws {
        let bed = PCITestBed()
        let modelA = RegisterModel(), modelB = RegisterModel()
        let a = try makeFunction("a", model: modelA), b = try makeFunction("b", model: modelB)
        try bed.root.attach(a, at: PCIAddress(device: 3))
        try bed.root.attach(b, at: PCIAddress(device: 4))
        let aAddress = try #require(a.mappedAddress(ofBar: 0))
        bed.cf8Write(device: 4, offset: 0x10, size: 4, value: UInt32(aAddress))
        #expect(b.mappedAddress(ofBar: 0) == nil, "refused: it overlaps a's BAR0")
        modelB.scratch.withLock { $0 = 0xB }
        bed.mmioBus.write(aAddress + 4, size: 4, value: 0xA)
        #expect(modelA.scratch.withLock { $0 } == 0xA, "a keeps the range")
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: 0xD000_0000)  // a moves away
        #expect(a.mappedAddress(ofBar: 0) == 0xD000_0000)
        #expect(b.mappedAddress(ofBar: 0) == aAddress, "b's refused mapping was retried")
        #expect(bed.mmioBus.read(aAddress + 4, size: 4) == 0xB, "the range now reaches b")
        // Detaching a function frees ranges too.
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: UInt32(aAddress + 0x10000))
        bed.cf8Write(device: 4, offset: 0x10, size: 4, value: UInt32(aAddress + 0x10000))
        #expect(b.mappedAddress(ofBar: 0) == nil)
        bed.root.detach(at: PCIAddress(device: 3))
        #expect(b.mappedAddress(ofBar: 0) == aAddress + 0x10000)
    }

    /// BAR relocation racing accesses, and config writes from two threads: every access gets
    /// the device or all ones, nothing traps, and the mapping ends where the register says.
    @Test func relocationRacingAccessesFromOtherThreads() throws {
        let bed = PCITestBed()
        let model = RegisterModel()
        let function = try makeFunction("raced", model: model)
        try bed.root.attach(function, at: PCIAddress(device: 3))
        let addresses: [UInt64] = [0xC000_0000, 0xC100_0000, 0xC200_0000]
        let stop = Atomic<Bool>(false)
        let bad = Atomic<Int>(0), seen = Atomic<Int>(0)
        let readers = TestThreads(2) { _ in
            while !stop.load(ordering: .relaxed) {
                for address in addresses {
                    let value = bed.mmioBus.read(address, size: 4)
                    if value == RegisterModel.magic { seen.add(1, ordering: .relaxed) } else if value != 0xFFFF_FFFF { bad.add(1, ordering: .relaxed) }
                }
            }
        }
        // Two writers move the BAR (through ECAM and through 0xCF8 alternately) and toggle decode.
        let writers = TestThreads(2) { writer in
            for i in 0..<3000 {
                let address = addresses[(i + writer) % addresses.count]
                if writer == 0 {
                    bed.ecamWrite(device: 3, offset: 0x10, size: 4, value: UInt32(address))
                    bed.ecamWrite(device: 3, offset: 4, size: 2, value: i % 7 == 0 ? 0 : 2)
                } else {
                    bed.cf8Write(device: 3, offset: 0x10, size: 4, value: UInt32(address))
                }
            }
        }
        writers.join()
        bed.ecamWrite(device: 3, offset: 4, size: 2, value: 2)
        bed.ecamWrite(device: 3, offset: 0x10, size: 4, value: UInt32(addresses[1]))
        stop.store(true, ordering: .relaxed)
        readers.join()
        let badCount = bad.load(ordering: .relaxed), seenCount = seen.load(ordering: .relaxed)
        #expect(badCount == 0)
        #expect(seenCount > 0)
        #expect(function.mappedAddress(ofBar: 0) == addresses[1])
        #expect(bed.mmioBus.read(addresses[1], size: 4) == RegisterModel.magic)
        for other in [addresses[0], addresses[2]] { #expect(bed.mmioBus.read(other, size: 4) == 0xFFFF_FFFF, "no stale range left mapped") }
        #expect(bed.mmioBus.ranges.count == 2, "ECAM and BAR0 only: \(bed.mmioBus.ranges)")
    }
}
