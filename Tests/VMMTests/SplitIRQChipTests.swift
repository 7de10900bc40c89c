import KVM
import MachineDevices
import PCI
import Testing
import TestSupport
@testable import VMM

/// The pc machine with a split irqchip, VT-d and edu (what kvm-unit-tests' intel_iommu asks
/// for): which options go together, and the parts wired as a guest finds them.
@Suite struct SplitIRQChipConfigurationTests {
    func pc(_ change: (inout PCOptions) -> Void) -> MachineConfiguration {
        var c = quietConfiguration()
        c.machine = .pc
        c.testDevices = 0
        change(&c.pc)
        return c
    }

    @Test func optionsThatDoNotGoTogetherAreRefused() throws {
        #expect(throws: VMMError.layout("the PIT is KVM's and needs the in-kernel irqchip: with the split irqchip, turn the PIT off")) {
            try pc { $0.irqchip = .split }.validate()
        }
        #expect(throws: VMMError.layout("VT-d interrupt remapping needs the split irqchip (the IOAPIC's messages must reach the remapper)")) {
            try pc { $0.iommu = .init(interruptRemapping: true) }.validate()
        }
        #expect(throws: VMMError.layout("VT-d x2APIC mode (eim) needs interrupt remapping")) {
            try pc { $0.iommu = .init(extendedInterruptMode: true) }.validate()
        }
        var withTestDevice = pc { $0.irqchip = .split; $0.pit = false; $0.iommu = .init(interruptRemapping: true) }
        withTestDevice.testDevices = 1
        #expect(throws: VMMError.layout("VT-d interrupt remapping does not cover the MSI-X test devices (their vectors would bypass it): "
            + "use testDevices = 0 with it")) { try withTestDevice.validate() }
        var withVirtio = pc { $0.iommu = .init() }
        withVirtio.devices = [VirtioComponent.entropy()]
        #expect(throws: VMMError.layout("VT-d does not cover virtio devices (their DMA and MSI-X would bypass it): leave out one or the other")) {
            try withVirtio.validate()
        }
        try pc { $0.irqchip = .split; $0.pit = false; $0.iommu = .init(interruptRemapping: true, extendedInterruptMode: true) }.validate()
        try pc { $0.iommu = .init() }.validate()
    }
}

@Suite(.enabled(if: kvmAvailable)) struct SplitIRQChipMachineTests {
    func machine() throws -> Machine {
        var c = quietConfiguration()
        c.machine = .pc
        c.testDevices = 0
        c.pc.irqchip = .split
        c.pc.pit = false
        c.pc.iommu = .init(interruptRemapping: true)
        c.pc.eduDevice = true
        return try Machine(c)
    }

    /// The IOAPIC answers at 0xFEC00000 from the VMM (KVM has none), the VT-d unit at
    /// 0xFED90000, and edu's DMA goes through the guest's tables with edu's requester ID: a
    /// mapped IOVA reaches its page, an unmapped one faults with edu's bus/device/function.
    @Test func dmaGoesThroughTheGuestsTablesWithEdusRequesterID() throws {
        let machine = try machine()
        let bus = machine.mmioBus, memory = machine.memory
        bus.write(0xFEC0_0000, size: 1, value: 1)
        #expect(bus.read(0xFEC0_0010, size: 4) == 0x0017_0011, "the VMM's IOAPIC, version 0x11")
        #expect(bus.read(IntelIOMMU.base, size: 4) == 0x10, "VT-d 1.0")

        let slot = try #require((1..<32).first { machine.pci.function(at: PCIAddress(device: $0))?.identity.vendorID == EduDevice.vendorID })
        let edu = try #require(machine.pci.function(at: PCIAddress(device: slot)))
        let sid = UInt64(slot << 3)
        edu.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(PCICommand.memorySpace | PCICommand.busMaster))
        let bar = try #require(edu.mappedAddress(ofBar: 0))
        #expect(bus.read(bar, size: 4) == 0x0100_00ED)

        // Root table at 0x10000 → context table 0x11000 → 3-level tables 0x12000…0x14000: IOVA 0 → 0x20000.
        try memory.store(UInt64(0x11000 | 1), at: 0x10000)
        try memory.store(UInt64(0x12000 | 1), at: 0x11000 + sid * 16)
        try memory.store(UInt64(1), at: 0x11000 + sid * 16 + 8)
        try memory.store(UInt64(0x13000 | 3), at: 0x12000)
        try memory.store(UInt64(0x14000 | 3), at: 0x13000)
        try memory.store(UInt64(0x20000 | 3), at: 0x14000)
        try memory.store(UInt32(0x1234_5678), at: 0x20000)
        bus.write(IntelIOMMU.base + 0x20, size: 8, value: 0x10000)
        bus.write(IntelIOMMU.base + 0x18, size: 4, value: 1 << 30)
        bus.write(IntelIOMMU.base + 0x18, size: 4, value: 1 << 31 | 1 << 30)

        func dma(from: UInt64, to: UInt64, command: UInt64) {
            bus.write(bar + 0x80, size: 8, value: from)
            bus.write(bar + 0x88, size: 8, value: to)
            bus.write(bar + 0x90, size: 8, value: 4)
            bus.write(bar + 0x98, size: 4, value: command)
        }
        dma(from: 0, to: EduDevice.bufferBase, command: 1)
        dma(from: EduDevice.bufferBase, to: 4, command: 3)
        #expect(try memory.load(UInt32.self, at: 0x20004) == 0x1234_5678, "IOVA 0…7 is guest-physical 0x20000…7")
        #expect(bus.read(IntelIOMMU.base + 0x34, size: 4) == 0, "no fault yet")
        dma(from: EduDevice.bufferBase, to: 0x5000, command: 3)
        #expect(bus.read(IntelIOMMU.base + 0x34, size: 4) & 2 != 0, "FSTS.PPF")
        let record = bus.read(IntelIOMMU.base + 0x228, size: 8)
        #expect(record & 0xFFFF == sid, "the fault names edu (slot \(slot))")
        #expect(bus.read(IntelIOMMU.base + 0x220, size: 8) == 0x5000)
    }

    /// A level-triggered entry's message becomes its GSI's MSI route as soon as the guest writes
    /// it (so KVM watches the vector's EOI); the delivery reaches the LAPIC as level-triggered
    /// (TMR); Remote IRR holds the pin until the EOI, which delivers again while the line is high.
    @Test func levelEntriesKeepTheirRouteAndWaitForTheEOI() throws {
        let machine = try machine()
        let chip = try #require(machine.splitIRQChip)
        let bus = machine.mmioBus
        func entry(_ pin: Int, low: UInt32, high: UInt32) {
            bus.write(0xFEC0_0000, size: 1, value: UInt64(0x10 + 2 * pin))
            bus.write(0xFEC0_0010, size: 4, value: UInt64(low))
            bus.write(0xFEC0_0000, size: 1, value: UInt64(0x11 + 2 * pin))
            bus.write(0xFEC0_0010, size: 4, value: UInt64(high))
        }
        #expect(machine.routes.pinMSIRoute(at: 10)?.data == 0, "a placeholder before the guest writes the entry")
        entry(10, low: 1 << 15 | 0x45, high: 0)
        let route = try #require(machine.routes.pinMSIRoute(at: 10))
        #expect(route.gsi == 10 && route.address == 0xFEE0_0000 && route.data == 0xC045, "level, asserted, vector 0x45")
        #expect(machine.routes.committedSerial > 0, "committed before anything is delivered")
        // The LAPIC as a guest leaves it: software-enabled (SVR bit 8), or KVM takes no interrupt.
        var registers = try machine.vcpus[0].lapicState()
        registers[0xF0] = 0xFF
        registers[0xF1] |= 1
        try machine.vcpus[0].setLapicState(registers)
        chip.setLevel(gsi: 10, high: true)
        let lapic = try machine.vcpus[0].lapicState()
        func bit(_ base: Int, _ vector: Int) -> Bool { lapic[base + (vector / 32) * 16 + (vector % 32) / 8] & (1 << (vector % 8)) != 0 }
        #expect(bit(0x200, 0x45) && bit(0x180, 0x45), "pending in IRR, level in TMR")
        #expect(chip.ioapic.entry(10)! & (1 << 14) != 0, "Remote IRR set")
        chip.endOfInterrupt(vector: 0x45)
        #expect(chip.ioapic.entry(10)! & (1 << 14) != 0, "still high at the EOI: delivered again, Remote IRR set again")
        chip.setLevel(gsi: 10, high: false)
        chip.endOfInterrupt(vector: 0x45)
        #expect(chip.ioapic.entry(10)! & (1 << 14) == 0, "low at the EOI: Remote IRR clear")
    }

    /// edu's MSI goes through interrupt remapping with edu's requester ID: an IRTE that names
    /// another requester blocks it, and the fault record names edu and reason 0x26.
    @Test func edusMSIIsRemappedWithItsRequesterID() throws {
        let machine = try machine()
        let bus = machine.mmioBus, memory = machine.memory
        let slot = try #require((1..<32).first { machine.pci.function(at: PCIAddress(device: $0))?.identity.vendorID == EduDevice.vendorID })
        let edu = try #require(machine.pci.function(at: PCIAddress(device: slot)))
        edu.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(PCICommand.memorySpace | PCICommand.busMaster))
        let bar = try #require(edu.mappedAddress(ofBar: 0))
        // IRTE 2 at 0x30000: present, vector 0xEE, verify SID 0x00FF (not edu's).
        try memory.store(UInt64(1 | 0xEE << 16), at: 0x30000 + 2 * 16)
        try memory.store(UInt64(0x00FF | 1 << 18), at: 0x30000 + 2 * 16 + 8)
        bus.write(IntelIOMMU.base + 0xB8, size: 8, value: 0x30000 | 3)
        bus.write(IntelIOMMU.base + 0x18, size: 4, value: 1 << 24)
        bus.write(IntelIOMMU.base + 0x18, size: 4, value: 1 << 25 | 1 << 24)
        let cap = Int(edu.configRead(offset: PCIRegister.capabilitiesPointer, size: 1))
        edu.configWrite(offset: cap + 4, size: 4, value: 0xFEE0_0000 | 2 << 5 | 1 << 4)  // remappable, handle 2
        edu.configWrite(offset: cap + 2, size: 2, value: 1)
        bus.write(bar + 0x60, size: 4, value: 1)
        let record = bus.read(IntelIOMMU.base + 0x228, size: 8)
        #expect(record >> 63 == 1 && (record >> 32) & 0xFF == 0x26, "a source-ID fault")
        #expect(record & 0xFFFF == UInt64(slot << 3), "naming edu")
    }
}
