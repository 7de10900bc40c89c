import Devices
import PCI
import Testing

@Suite struct PCIBarTests {
    @Test func sizingReturnsTheSizeMaskWithTypeBitsForEachKind() throws {
        let bed = PCITestBed()
        _ = try bed.attachTestDevice()
        bed.cf8Write(device: 3, offset: 4, size: 2, value: 0)  // decode off while sizing
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: 0xFFFF_FFFF)
        #expect(bed.cf8Read(device: 3, offset: 0x10, size: 4) == 0xFFFF_C000, "16 KiB, 32-bit, non-prefetchable")
        bed.cf8Write(device: 3, offset: 0x18, size: 4, value: 0xFFFF_FFFF)
        bed.cf8Write(device: 3, offset: 0x1C, size: 4, value: 0xFFFF_FFFF)
        #expect(bed.cf8Read(device: 3, offset: 0x18, size: 4) == 0xFFFF_F00C, "4 KiB, 64-bit, prefetchable")
        #expect(bed.cf8Read(device: 3, offset: 0x1C, size: 4) == 0xFFFF_FFFF)
        bed.cf8Write(device: 3, offset: 0x20, size: 4, value: 0xFFFF_FFFF)
        #expect(bed.cf8Read(device: 3, offset: 0x20, size: 4) == 0xFFFF_FFE1, "32 ports, I/O")
        // Unused BAR registers stay 0.
        bed.cf8Write(device: 3, offset: 0x14, size: 4, value: 0xFFFF_FFFF)
        #expect(bed.cf8Read(device: 3, offset: 0x14, size: 4) == 0)
    }

    @Test func barsAreAssignedFromTheWindowsAndMappedWithDecodeOn() throws {
        let bed = PCITestBed()
        let f = try bed.attachTestDevice()
        #expect(f.mappedAddress(ofBar: 0) == 0xC000_0000)
        #expect(f.mappedAddress(ofBar: 2) == 0xC000_4000)
        #expect(f.mappedAddress(ofBar: 4) == 0xC000)
        #expect(bed.mmioBus.read(0xC000_0000, size: 4) == RegisterModel.magic)
        #expect(bed.portBus.read(0xC000, size: 4) == RegisterModel.magic)
        #expect(bed.cf8Read(device: 3, offset: 4, size: 2) & 3 == 3)
    }

    @Test func relocatingABarMovesItsRegisters() throws {
        let bed = PCITestBed()
        let model = RegisterModel()
        let f = try bed.attachTestDevice(model: model)
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: 0xD000_0000)
        #expect(f.mappedAddress(ofBar: 0) == 0xD000_0000)
        #expect(bed.mmioBus.read(0xD000_0000, size: 4) == RegisterModel.magic)
        #expect(bed.mmioBus.read(0xC000_0000, size: 4) == 0xFFFF_FFFF, "nothing left at the old address")
        #expect(model.moves.withLock { $0.last! } == (0, 0xD000_0000))
        // A 64-bit BAR above 4 GiB.
        bed.cf8Write(device: 3, offset: 0x18, size: 4, value: 0x0000_0000)
        bed.cf8Write(device: 3, offset: 0x1C, size: 4, value: 0x1)
        #expect(f.mappedAddress(ofBar: 2) == 0x1_0000_0000)
        #expect(bed.mmioBus.read(0x1_0000_0000, size: 4) == RegisterModel.magic)
    }

    @Test func decodeOffHidesTheRegisters() throws {
        let bed = PCITestBed()
        let f = try bed.attachTestDevice()
        bed.cf8Write(device: 3, offset: 4, size: 2, value: UInt32(PCICommand.ioSpace))
        #expect(f.mappedAddress(ofBar: 0) == nil)
        #expect(bed.mmioBus.read(0xC000_0000, size: 4) == 0xFFFF_FFFF)
        #expect(bed.portBus.read(0xC000, size: 4) == RegisterModel.magic, "I/O decode is still on")
        bed.cf8Write(device: 3, offset: 4, size: 2, value: UInt32(PCICommand.memorySpace))
        #expect(bed.mmioBus.read(0xC000_0000, size: 4) == RegisterModel.magic)
        #expect(bed.portBus.read(0xC000, size: 4) == 0xFFFF_FFFF)
    }

    @Test func sizingWithDecodeOnDoesNotMapTheSizingPattern() throws {
        let bed = PCITestBed()
        let f = try bed.attachTestDevice()
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: 0xFFFF_FFFF)
        #expect(f.mappedAddress(ofBar: 0) == nil)
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: 0xC000_0000)
        #expect(f.mappedAddress(ofBar: 0) == 0xC000_0000)
    }

    @Test func aBarMovedOntoAnotherIsRefusedAndLoggedNotFatal() throws {
        let bed = PCITestBed()
        let f = try bed.attachTestDevice()
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: UInt32(PCITestBed.ecamBase))
        #expect(f.mappedAddress(ofBar: 0) == nil)
        #expect(bed.ecamRead(device: 3, offset: 0, size: 4) == 0x0001_5357, "ECAM still works")
        bed.cf8Write(device: 3, offset: 0x10, size: 4, value: 0xC800_0000)
        #expect(f.mappedAddress(ofBar: 0) == 0xC800_0000)
    }

    @Test func badBarDefinitionsAreRefused() throws {
        #expect(throws: PCIError.badBarSize(size: 0x3000, minimum: 16, maximum: 1 << 31)) { try PCIBarDefinition(kind: .memory32, size: 0x3000) }
        #expect(throws: PCIError.self) { try PCIBarDefinition(kind: .io, size: 512) }
        #expect(throws: PCIError.self) { try PCIBarDefinition(kind: .memory32, size: 8) }
        let f = PCIFunction(name: "x", identity: .init(vendorID: 1, deviceID: 2, classCode: 0))
        #expect(throws: PCIError.badBarIndex(5)) { try f.defineBar(5, PCIBarDefinition(kind: .memory64, size: 0x1000)) }
        try f.defineBar(0, PCIBarDefinition(kind: .memory64, size: 0x1000))
        #expect(throws: PCIError.barTaken(1)) { try f.defineBar(1, PCIBarDefinition(kind: .memory32, size: 0x1000)) }
    }
}

@Suite struct PCICapabilityTests {
    final class Echo: PCICapabilityHandler {
        func capabilityRead(offset: Int, size: Int) -> UInt32 { 0xABCD_0000 | UInt32(offset) }
        func capabilityWrite(offset: Int, size: Int, value: UInt32) {}
    }

    @Test func capabilitiesAreLinkedInOrderWithTheStatusBit() throws {
        let bed = PCITestBed()
        let f = PCIFunction(name: "c", identity: .init(vendorID: 1, deviceID: 2, classCode: 0))
        #expect(try f.addCapability(id: 0x09, length: 8) == 0x40)
        #expect(try f.addCapability(id: 0x11, length: 12) == 0x48)
        #expect(try f.addCapability(id: 0x05, length: 10, at: 0x80) == 0x80)
        try bed.root.attach(f, at: PCIAddress(device: 4))
        #expect(bed.cf8Read(device: 4, offset: 6, size: 2) & 0x10 == 0x10)
        #expect(bed.cf8Read(device: 4, offset: 0x34, size: 1) == 0x40)
        var walk: [(Int, UInt32)] = []
        var pointer = Int(bed.cf8Read(device: 4, offset: 0x34, size: 1))
        while pointer != 0, walk.count < 10 {
            walk.append((pointer, bed.cf8Read(device: 4, offset: pointer, size: 1)))
            pointer = Int(bed.cf8Read(device: 4, offset: pointer + 1, size: 1))
        }
        #expect(walk.map(\.0) == [0x40, 0x48, 0x80])
        #expect(walk.map(\.1) == [0x09, 0x11, 0x05])
    }

    @Test func overlapsAndBadPlacementsAreRefusedWithOffsets() throws {
        let f = PCIFunction(name: "c", identity: .init(vendorID: 1, deviceID: 2, classCode: 0))
        try f.addCapability(id: 0x11, length: 12, at: 0x50)
        #expect(throws: PCIError.capabilityOverlap(offset: 0x58, length: 8, existingOffset: 0x50, existingLength: 12)) {
            try f.addCapability(id: 0x09, length: 8, at: 0x58)
        }
        #expect(throws: PCIError.capabilityMisaligned(offset: 0x61)) { try f.addCapability(id: 9, length: 4, at: 0x61) }
        #expect(throws: PCIError.capabilityOutOfRange(offset: 0x20, length: 4)) { try f.addCapability(id: 9, length: 4, at: 0x20) }
        #expect(throws: PCIError.capabilityOutOfRange(offset: 0xF8, length: 12)) { try f.addCapability(id: 9, length: 12, at: 0xF8) }
        #expect(try f.addCapability(id: 9, length: 16) == 0x40, "first fit before 0x50")
        #expect(try f.addCapability(id: 9, length: 16) == 0x5C)
        #expect(throws: PCIError.noRoomForCapability(length: 200)) { try f.addCapability(id: 9, length: 200) }
    }

    @Test func aHandlerOwnsItsBytesButNotTheIDAndNextPointer() throws {
        let bed = PCITestBed()
        let f = PCIFunction(name: "c", identity: .init(vendorID: 1, deviceID: 2, classCode: 0))
        try f.addCapability(id: 0x11, length: 12, at: 0x40, handler: Echo())
        try f.addCapability(id: 0x09, length: 4, at: 0x60)
        try bed.root.attach(f, at: PCIAddress(device: 4))
        #expect(bed.cf8Read(device: 4, offset: 0x40, size: 4) == 0xABCD_6011)
        #expect(bed.cf8Read(device: 4, offset: 0x44, size: 4) == 0xABCD_0004)
        #expect(bed.cf8Read(device: 4, offset: 0x42, size: 2) == 0x0002, "the handler sees offset 2; the value is cut to the size")
    }
}
