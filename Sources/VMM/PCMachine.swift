import Devices
import KVM
import MachineDevices
import PCI
import Platform

/// Which machine a configuration builds.
public enum MachineKind: String, Sendable, CaseIterable {
    /// This project's machine (README "Our own guest boot protocol"): the device tree, the
    /// minimal 8250 console, the exit port, the probe device, PCI with ECAM.
    case vmm
    /// A PC-compatible machine for kernels written for PCs (README "The pc machine"): the
    /// in-kernel PIT with the PC's IRQ routing, a 16550 on COM1 (IRQ 4), isa-debug-exit at 0xF4,
    /// fw_cfg, the RTC, QEMU's pc-testdev and pci-testdev, the ACPI PM registers (S3 and S5) and
/// ACPI tables.
    case pc
}

extension MachineKind {
    /// The machine an image's protocol is written for: pc for Multiboot, PVH and Linux kernels, ours
    /// for this project's ELF64 guests.
    public static func `default`(for bootProtocol: any BootProtocol) -> MachineKind {
        bootProtocol.name == "elf64" ? .vmm : .pc
    }
}

/// The pc machine's optional parts (QEMU's `-device pc-testdev`, `-device pci-testdev`,
/// `-machine pit=off`, `-global kvm-pit.lost_tick_policy=discard`).
public struct PCOptions: Sendable, Equatable {
    /// QEMU's pc-testdev on ports 0xE0–0xEB and 0x2000–0x2017 and at MMIO 0xFF000000.
    public var testDevice = true
    /// QEMU's pci-testdev (1b36:0005) on PCI bus 0.
    public var pciTestDevice = true
    /// The in-kernel i8254 PIT.
    public var pit = true
    /// The PIT re-injects ticks the guest missed (QEMU's default policy, "delay").
    public var pitReinjection = true
    /// Where the interrupt controllers live: KVM's (the default), or split, the IOAPIC the
    /// VMM's (QEMU's `kernel-irqchip=split`); split has no PIC and no PIT, so `pit` must be off.
    public var irqchip = IRQChipMode.kernel
    /// An Intel VT-d unit at 0xFED90000 remapping edu's DMA and MSI and (with
    /// `interruptRemapping`, which needs the split irqchip) the IOAPIC's interrupts, described
    /// by a DMAR table. Other devices do not go through it, so `validate` refuses it beside
    /// virtio devices, and interrupt remapping beside MSI-X test devices. nil: none.
    public var iommu: IntelIOMMU.Options?
    /// QEMU's edu device on PCI bus 0 (1234:11e8).
    public var eduDevice = false
    /// Every part on: both test devices, the PIT and its tick re-injection.
    public init() {}
}

/// The devices the pc machine adds to the ones every machine has (PCI, the exit port).
enum PCMachine {
    /// The standard devices a pc machine keeps: the exit port is its isa-debug-exit. Its console
    /// is the 16550, and pc-testdev takes the probe's ports.
    static let standardDevices: StandardDevices = [.exitPort]

    /// What the machine keeps of the pc devices: the clock and the PM registers S3 needs.
    struct Parts: Sendable {
        let clock: RealTimeClock
        let power: ACPIPowerManagement
    }

    /// The machine's interrupt parts the pc devices use: the VMM's IOAPIC when the irqchip is
    /// split, the IOMMU if any, how messages reach KVM, and RAM as DMA reaches it.
    struct Interrupts: Sendable {
        let split: SplitIRQChip?
        let iommu: IntelIOMMU?
        let delivery: MSIDelivery
        let memory: PhysicalMemory
    }

    /// Attaches the pc devices to `machine`; `console` receives COM1's output, `powerOff` ends
    /// the run when the guest enters ACPI S5 (or a sleep state we cannot give), and `suspend`
    /// starts S3.
    static func attach(to machine: MachineAssembly, console: ConsoleDevice, options: PCOptions, interrupts: Interrupts,
                       powerOff: @escaping @Sendable (String) -> Void, suspend: @escaping @Sendable () -> Void) throws -> Parts {
        let vm = machine.vm, log = machine.log
        let irq: @Sendable (UInt32, Bool) -> Void
        if let split = interrupts.split {
            irq = { line, high in split.setLevel(gsi: line, high: high) }
        } else {
            // The 8259s as SeaBIOS leaves them: vectors from 0x08 and 0x70, only the timer and
            // the cascade unmasked; the PIT's channel 0 ticking at 18.2 Hz (PCFirmware has the
            // handlers).
            try vm.initializePIC(0, vectorBase: PCFirmware.masterVectorBase, mask: 0xFA)
            try vm.initializePIC(1, vectorBase: PCFirmware.slaveVectorBase, mask: 0xFF)
            if options.pit {
                try vm.createPIT()
                if !options.pitReinjection { try vm.setPITReinjection(false) }
                try vm.startPITChannel0(count: 0x1_0000, mode: 2)
            }
            irq = { line, high in
                do { _ = try vm.setIRQLine(gsi: line, high: high) } catch { log("IRQ \(line) \(high ? "high" : "low"): \(error)") }
            }
        }
        let com1 = Serial16550(console: console) { high in irq(4, high) }
        try machine.portBus.register(com1, name: "COM1 (16550)", base: 0x3F8, size: 8)
        let layout = machine.layout
        let firmware = FirmwareConfig(ramSize: layout.totalRAM, cpus: layout.vcpuCount,
                                      files: [("etc/e820", PCBootData.e820Table(ramSize: layout.ramSize, highRAMSize: layout.highRAMSize))])
        try machine.portBus.register(firmware, name: "fw_cfg", base: 0x510, size: FirmwareConfig.portCount)
        let memory = machine.memory
        if options.testDevice {
            let testdev = PCTestDevice(setIRQLine: irq) { address in
                do { try memory.remapPage(at: address) } catch { log("pc-testdev flush page: \(error)") }
            }
            try testdev.register(portBus: machine.portBus, mmioBus: machine.mmioBus)
        }
        let keyboard = KeyboardController { powerOff("reset by the keyboard controller (0xFE to port 0x64)") }
        try machine.portBus.register(keyboard, name: "i8042", base: 0x60, size: KeyboardController.portCount)
        let clock = RealTimeClock { high in irq(8, high) }
        try machine.portBus.register(clock, name: "RTC/CMOS", base: 0x70, size: RealTimeClock.portCount)
        let pm = ACPIPowerManagement { type in
            switch type {
            case ACPITables.s3SleepType: suspend()
            case ACPITables.s5SleepType: powerOff("ACPI S5")
            default: powerOff("ACPI sleep type \(type), which this machine does not offer")
            }
        }
        try machine.portBus.register(pm, name: "ACPI PM", base: UInt64(ACPITables.pm1aEventPort), size: ACPIPowerManagement.portCount)
        if options.pciTestDevice {
            let pciTest = PCITestDevice(vm: vm, log: log)
            guard let slot = machine.pci.nextFreeDevice() else { throw VMMError.layout("PCI bus 0 is full") }
            try machine.pci.attach(pciTest.makeFunction(), at: PCIAddress(device: slot))
        }
        if options.eduDevice { try attachEdu(to: machine, interrupts: interrupts, irq: irq) }
        return Parts(clock: clock, power: pm)
    }

    /// QEMU's edu on the next free slot: its DMA and MSI carry its requester ID (bus 0, its
    /// slot, function 0) through the IOMMU when there is one; INTA# is GSI 16 + slot mod 4 (the
    /// PIRQ swizzle), in its Interrupt Line register.
    private static func attachEdu(to machine: MachineAssembly, interrupts: Interrupts, irq: @escaping @Sendable (UInt32, Bool) -> Void) throws {
        guard let slot = machine.pci.nextFreeDevice() else { throw VMMError.layout("PCI bus 0 is full") }
        let requester = UInt16(slot) << 3
        let line = UInt32(16 + slot % 4)
        let iommu = interrupts.iommu, memory = interrupts.memory, delivery = interrupts.delivery
        let connections = EduDevice.Connections(
            dmaRead: { address, count in
                iommu.map { $0.dmaRead(sid: requester, from: address, count: count) } ?? memory.read(at: address, count: count)
            },
            dmaWrite: { bytes, address in
                iommu.map { $0.dmaWrite(sid: requester, bytes, to: address) } ?? memory.write(bytes, at: address)
            },
            sendMSI: { address, data in delivery.send(address: address, data: data, requester: requester) },
            setINTx: { high in irq(line, high) })
        let edu = EduDevice(connections: connections, log: machine.log)
        try machine.pci.attach(edu.makeFunction(line: UInt8(line)), at: PCIAddress(device: slot))
    }

    /// The ACPI tables of a pc machine with `layout` and `options`: no 8259s in the MADT with
    /// the split irqchip, and a DMAR for the VT-d unit.
    static func acpiTables(for layout: MachineLayout, options: PCOptions) -> ACPITables {
        var machine = ACPITables.Machine(apicIDs: layout.vcpuAPICIDs)
        machine.has8259s = options.irqchip == .kernel
        machine.remappingUnit = options.iommu.map { iommu in
            ACPITables.RemappingUnit(registerBase: IntelIOMMU.base, interruptRemapping: iommu.interruptRemapping,
                                     x2APICOptOut: !iommu.extendedInterruptMode)
        }
        return ACPITables(machine)
    }

    /// The MP tables of a pc machine with `layout` and `options`, for kernels without ACPI.
    static func mpTable(for layout: MachineLayout, options: PCOptions) -> MPTable {
        MPTable(apicIDs: layout.vcpuAPICIDs, has8259s: options.irqchip == .kernel)
    }
}
