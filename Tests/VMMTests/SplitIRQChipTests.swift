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
        #expect(throws: VMMError.self, "the MSI-X test device's vectors would bypass remapping") { try withTestDevice.validate() }
        var withVirtio = pc { $0.iommu = .init() }
        withVirtio.devices = [VirtioComponent.entropy()]
        #expect(throws: VMMError.self, "virtio's DMA would bypass the unit") { try withVirtio.validate() }
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
}
