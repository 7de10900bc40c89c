import Devices
import PCI
import Testing

@Suite struct PCIConfigSpaceTests {
    @Test func readOnlyBytesIgnoreGuestWrites() {
        var space = PCIConfigSpace()
        space.set(0, size: 4, value: 0x0001_5357)
        space.guestWrite(0, size: 4, value: 0xFFFF_FFFF)
        #expect(space.read(0, size: 4) == 0x0001_5357)
    }

    @Test func writableMaskLimitsWhichBitsChange() {
        var space = PCIConfigSpace()
        space.setWritable(4, size: 2, mask: 0x0407)
        space.guestWrite(4, size: 2, value: 0xFFFF)
        #expect(space.read(4, size: 2) == 0x0407)
        space.guestWrite(4, size: 1, value: 0x00)
        #expect(space.read(4, size: 2) == 0x0400)
    }

    @Test func writeOneToClearBitsClearOnlyWhereOnesAreWritten() {
        var space = PCIConfigSpace()
        space.set(6, size: 2, value: 0xF910)
        space.setWriteOneToClear(6, size: 2, mask: 0xF900)
        space.guestWrite(6, size: 2, value: 0x0100)
        #expect(space.read(6, size: 2) == 0xF810)
        space.guestWrite(6, size: 2, value: 0xFFFF)
        #expect(space.read(6, size: 2) == 0x0010, "bit 4 (capabilities) is read-only, not W1C")
    }

    @Test func accessesPastTheEndAreIgnored() {
        var space = PCIConfigSpace()
        space.guestWrite(254, size: 4, value: 0xFFFF_FFFF)
        #expect(space.read(254, size: 4) == 0)
        #expect(space.read(-2, size: 4) == 0)
    }
}

@Suite struct PCIHeaderTests {
    @Test func hostBridgeIsAt00_00_0WithClass0600() {
        let bed = PCITestBed()
        #expect(bed.cf8Read(device: 0, offset: 0x0A, size: 2) == 0x0600)
        #expect(bed.ecamRead(device: 0, offset: 0x08, size: 4) >> 8 == 0x06_0000)
    }

    @Test func absentFunctionsAndOtherBusesReadAllOnes() throws {
        let bed = PCITestBed()
        #expect(bed.cf8Read(device: 7, offset: 0, size: 4) == 0xFFFF_FFFF)
        #expect(bed.cf8Read(device: 0, function: 3, offset: 0, size: 2) == 0xFFFF)
        #expect(bed.mmioBus.read(PCITestBed.ecamBase + (1 << 20) - 4, size: 4) == 0xFFFF_FFFF)
        bed.portBus.write(0xCF8, size: 4, value: 0x8001_0000)  // bus 1
        #expect(bed.portBus.read(0xCFC, size: 4) == 0xFFFF_FFFF)
    }

    @Test func commandDecodeBitsAreWritableAndOthersAreNot() throws {
        let bed = PCITestBed()
        _ = try bed.attachTestDevice()
        bed.cf8Write(device: 3, offset: 4, size: 2, value: 0xFFFF)
        #expect(bed.cf8Read(device: 3, offset: 4, size: 2) == UInt32(PCICommand.writable))
        bed.cf8Write(device: 3, offset: 0, size: 4, value: 0)
        #expect(bed.cf8Read(device: 3, offset: 0, size: 4) == 0x0001_5357)
    }

    @Test func cf8ByteAndWordAccessesSeeTheRightBytes() throws {
        let bed = PCITestBed()
        _ = try bed.attachTestDevice()
        #expect(bed.cf8Read(device: 3, offset: 0, size: 1) == 0x57)
        #expect(bed.cf8Read(device: 3, offset: 1, size: 1) == 0x53)
        #expect(bed.cf8Read(device: 3, offset: 2, size: 2) == 0x0001)
        #expect(bed.cf8Read(device: 3, offset: 3, size: 1) == 0x00)
        #expect(bed.cf8Read(device: 3, offset: 0x0B, size: 1) == 0xFF)
        // A word at 0xCFF would run past the data window: all ones.
        bed.portBus.write(0xCF8, size: 4, value: 0x8000_1800)
        #expect(bed.portBus.read(0xCFF, size: 2) == 0xFFFF)
        // Writing a byte at 0xCFD changes only that byte.
        bed.cf8Write(device: 3, offset: 0x3C, size: 4, value: 0)
        bed.cf8Write(device: 3, offset: 0x3C, size: 1, value: 0x0B)
        #expect(bed.cf8Read(device: 3, offset: 0x3C, size: 1) == 0x0B)
        // The register's low bits written to 0xCF8 count, as kvm-unit-tests uses them: the
        // device ID is the word at register 2 read at 0xCFC.
        let deviceID = bed.cf8Read(device: 3, offset: 2, size: 2), byte3 = bed.cf8Read(device: 3, offset: 3, size: 1)
        bed.portBus.write(0xCF8, size: 4, value: 0x8000_1802)
        #expect(bed.portBus.read(0xCFC, size: 2) == deviceID)
        #expect(bed.portBus.read(0xCF8, size: 4) == 0x8000_1802, "read back as written")
        bed.portBus.write(0xCF8, size: 4, value: 0x8000_1803)
        #expect(bed.portBus.read(0xCFC, size: 1) == byte3)
        #expect(bed.portBus.read(0xCFC, size: 2) == 0xFFFF, "a word at register 3 would cross the dword")
    }

    @Test func cf8HonoursTheEnableBitAndDwordOnlyAddressRegister() throws {
        let bed = PCITestBed()
        _ = try bed.attachTestDevice()
        bed.portBus.write(0xCF8, size: 4, value: 0x0000_1800)  // device 3, enable clear
        #expect(bed.portBus.read(0xCFC, size: 4) == 0xFFFF_FFFF)
        #expect(bed.portBus.read(0xCF8, size: 4) == 0x0000_1800)
        bed.portBus.write(0xCF8, size: 1, value: 0x80)  // byte writes do not reach the address register
        #expect(bed.portBus.read(0xCF8, size: 4) == 0x0000_1800)
        #expect(bed.portBus.read(0xCF9, size: 1) == 0xFF)
    }

    @Test func ecamAndCF8AgreeAndMisalignedECAMIsRefused() throws {
        let bed = PCITestBed()
        _ = try bed.attachTestDevice()
        for offset in stride(from: 0, to: 0x40, by: 4) {
            #expect(bed.ecamRead(device: 3, offset: offset, size: 4) == bed.cf8Read(device: 3, offset: offset, size: 4))
        }
        #expect(bed.ecamRead(device: 3, offset: 1, size: 2) == 0xFFFF)
        #expect(bed.ecamRead(device: 3, offset: 0x100, size: 4) == 0, "extended space reads 0")
        let qword = bed.mmioBus.read(PCITestBed.ecamBase + (3 << 15), size: 8)
        #expect(qword == UInt64(bed.cf8Read(device: 3, offset: 4, size: 4)) << 32 | 0x0001_5357)
    }

    @Test func slotsAreCheckedOnAttach() throws {
        let bed = PCITestBed()
        let f = PCIFunction(name: "x", identity: .init(vendorID: 1, deviceID: 2, classCode: 0))
        #expect(throws: PCIError.slotTaken(PCIAddress(device: 0))) { try bed.root.attach(f, at: PCIAddress(device: 0)) }
        #expect(throws: PCIError.slotOutOfRange(32)) { try bed.root.attach(f, at: PCIAddress(device: 32)) }
        #expect(bed.root.nextFreeDevice() == 1)
    }

    @Test func secondFunctionSetsTheMultiFunctionBitOnFunction0() throws {
        let bed = PCITestBed()
        try bed.root.attach(PCIFunction(name: "f0", identity: .init(vendorID: 1, deviceID: 2, classCode: 0)), at: PCIAddress(device: 5))
        #expect(bed.cf8Read(device: 5, offset: 0x0E, size: 1) == 0x00)
        try bed.root.attach(PCIFunction(name: "f1", identity: .init(vendorID: 1, deviceID: 3, classCode: 0)), at: PCIAddress(device: 5, function: 1))
        #expect(bed.cf8Read(device: 5, offset: 0x0E, size: 1) == 0x80)
        #expect(bed.cf8Read(device: 5, function: 1, offset: 2, size: 2) == 3)
    }
}
