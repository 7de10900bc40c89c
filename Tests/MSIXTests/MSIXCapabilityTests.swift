import MSIX
import Testing

@Suite("Capability registers")
struct MSIXCapabilityTests {
    @Test("capability reads: ID 0x11, next pointer given, Table Size N-1, offset/BIR registers")
    func reads() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        device.nextPointer = 0x60
        #expect(device.capabilityRead(offset: 0, size: 4) == 0x000F_6011)
        #expect(device.capabilityRead(offset: 0, size: 1) == 0x11)
        #expect(device.capabilityRead(offset: 1, size: 1) == 0x60)
        #expect(device.capabilityRead(offset: 2, size: 2) == 0x000F)
        #expect(device.capabilityRead(offset: 1, size: 2) == 0x0F60)  // any offset
        #expect(device.capabilityRead(offset: 4, size: 4) == 0x0000_0001)  // table at 0 in BAR 1
        #expect(device.capabilityRead(offset: 8, size: 4) == 0x0000_0801)  // PBA at 0x800 in BAR 1
        #expect(device.capabilityRead(offset: 9, size: 1) == 0x08)
        #expect(device.capabilityRead(offset: 10, size: 2) == 0)
        let big = try makeDevice(2048, sink: sink)
        #expect(big.capabilityRead(offset: 2, size: 2) == 0x07FF)
        #expect(big.capabilityRead(offset: 8, size: 4) == 0x8001)
        #expect(device.counters.badCapabilityAccess == 0)
    }

    @Test("Message Control: only Enable (bit 15) and Function Mask (bit 14) are writable")
    func writableBits() throws {
        let sink = TestSink()
        let device = try makeDevice(16, sink: sink)
        device.capabilityWrite(offset: 2, size: 2, value: 0xFFFF)
        #expect(device.capabilityRead(offset: 2, size: 2) == 0xC00F)
        #expect(device.isEnabled && device.isFunctionMaskSet && device.isFunctionMasked)
        device.capabilityWrite(offset: 2, size: 2, value: 0x8000)
        #expect(device.messageControl.rawValue == 0x800F)
        #expect(device.isEnabled && !device.isFunctionMaskSet && !device.isFunctionMasked)
        // Read-only fields and the next pointer ignore writes.
        device.capabilityWrite(offset: 0, size: 1, value: 0xAA)
        device.capabilityWrite(offset: 1, size: 1, value: 0xAA)
        device.capabilityWrite(offset: 4, size: 4, value: 0xFFFF_FFFF)
        device.capabilityWrite(offset: 8, size: 4, value: 0xFFFF_FFFF)
        #expect(device.capabilityRead(offset: 0, size: 4) == 0x800F_0011)
        #expect(device.capabilityRead(offset: 4, size: 4) == 1)
        #expect(device.capabilityRead(offset: 8, size: 4) == 0x801)
    }

    @Test("a dword write at the capability start is a Message Control write")
    func dwordWriteAtStart() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        device.capabilityWrite(offset: 0, size: 4, value: 0x8000_0000)
        #expect(device.isEnabled && !device.isFunctionMaskSet)
        device.capabilityWrite(offset: 0, size: 4, value: 0xC000_0000)
        #expect(device.isEnabled && device.isFunctionMaskSet)
        device.capabilityWrite(offset: 0, size: 4, value: 0x0000_6011)
        #expect(!device.isEnabled && !device.isFunctionMaskSet)
    }

    @Test("a write that does not cover Message Control's writable byte does not touch it")
    func writesNotCoveringControl() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        device.setControl(enable: true, maskAll: true)
        device.capabilityWrite(offset: 0, size: 2, value: 0)      // bytes 0–1
        device.capabilityWrite(offset: 2, size: 1, value: 0)      // byte 2 only (Table Size, RO)
        device.capabilityWrite(offset: 4, size: 4, value: 0)      // Table Offset/BIR
        #expect(device.isEnabled && device.isFunctionMaskSet)
        device.capabilityWrite(offset: 3, size: 1, value: 0x80)   // byte 3 alone is enough
        #expect(device.isEnabled && !device.isFunctionMaskSet)
        device.capabilityWrite(offset: 1, size: 4, value: 0)      // bytes 1–4 cover byte 3
        #expect(!device.isEnabled)
    }

    @Test("invalid capability accesses read all ones, drop writes and are counted")
    func invalidAccesses() throws {
        let sink = TestSink()
        let device = try makeDevice(4, sink: sink)
        #expect(device.capabilityRead(offset: 0, size: 3) == 0xFFFF_FFFF)
        #expect(device.capabilityRead(offset: 0, size: 8) == 0xFFFF_FFFF)
        #expect(device.capabilityRead(offset: 0, size: 0) == 0xFFFF_FFFF)
        #expect(device.capabilityRead(offset: 12, size: 1) == 0xFF)
        #expect(device.capabilityRead(offset: -1, size: 2) == 0xFFFF)
        #expect(device.capabilityRead(offset: 10, size: 4) == 0xFFFF_FFFF)
        #expect(device.capabilityRead(offset: Int.max, size: 4) == 0xFFFF_FFFF)
        #expect(device.capabilityRead(offset: Int.min, size: 1) == 0xFF)
        device.capabilityWrite(offset: 0, size: 8, value: 0x8000_0000)
        device.capabilityWrite(offset: 3, size: -1, value: 0x80)
        device.capabilityWrite(offset: Int.max, size: 4, value: 0x80)
        #expect(!device.isEnabled)
        #expect(device.counters.badCapabilityAccess == 11)
    }
}
