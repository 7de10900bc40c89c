import KVM
import Platform
import VMM

extension QEMUCommandLine {
    /// The `vmm` pc machine this command line describes. With `log` nil the VMM's diagnostics
    /// are dropped: kvm-unit-tests' harness turns a pass into a failure when standard error has
    /// a line that is not a warning.
    ///
    /// `guestOwnableExits` is what KVM can leave to the guest (KVM_CAP_X86_DISABLE_EXITS);
    /// with `-overcommit cpu-pm=on` the machine leaves it all, as QEMU does.
    public func configuration(log: (@Sendable (String) -> Void)? = nil,
                              guestOwnableExits: KVMVirtualMachine.GuestOwnedExits = []) -> MachineConfiguration {
        var c = MachineConfiguration()
        c.machine = .pc
        c.layout.ramSize = min(memoryMiB, Self.lowMemoryLimitMiB) << 20
        c.layout.highRAMSize = (memoryMiB - min(memoryMiB, Self.lowMemoryLimitMiB)) << 20
        c.layout.vcpuCount = cpus
        c.layout.commandLine = append
        c.testDevices = 0
        c.echoConsole = serialToStdout
        c.pc.testDevice = testDevice
        c.pc.pciTestDevice = pciTestDevice
        c.pc.pit = pit
        c.pc.pitReinjection = pitReinjection
        if splitIRQChip {
            c.pc.irqchip = .split
            c.pc.pit = false
        }
        c.pc.iommu = iommu
        c.pc.eduDevice = eduDevice
        if let exit = debugExit {
            c.layout.exitPort = exit.base
            c.layout.exitPortSize = UInt64(exit.size)
            c.standardDevices = [.exitPort]
        } else {
            c.standardDevices = []
        }
        c.cpuid = QEMUCPUID(model: cpu)
        if cpuPM { c.guestOwnedExits = guestOwnableExits.intersection([.mwait, .hlt, .pause, .cstate]) }
        c.log = log ?? { _ in }
        return c
    }

    /// The status QEMU exits with for `outcome`: isa-debug-exit's (value << 1) | 1; 0 when the
    /// guest powered off or reset itself (with -no-reboot QEMU exits then, and without it we
    /// cannot reboot either); 2 when the VMM could not go on (a vCPU failure, a host error, a
    /// timeout); 143 when the host stopped the run.
    public static func exitStatus(_ outcome: RunOutcome) -> Int32 {
        switch outcome {
        case let .guestExit(value): Int32(truncatingIfNeeded: (value << 1 | 1) & 0xFF)
        case .poweredOff: 0
        case let .vcpuFailed(_, exit, _) where exit.hasPrefix(VCPUExit.shutdown.description): 0
        case .vcpuFailed, .hostError, .timeout: 2
        case .stopped: 143
        }
    }

    /// What `-h` prints; its first line is what kvm-unit-tests parses QEMU's version from.
    public static let help = """
        QEMU emulator version 9.0.0 (vmm-qemu, SwiftVMM's QEMU-compatible front end)
        usage: vmm-qemu [options]

        Boots a kernel on a vmm pc machine (KVM), accepting the part of
        qemu-system-x86_64's command line that kvm-unit-tests passes:

        -kernel FILE        a Multiboot or PVH kernel
        -initrd FILE[,...]  modules handed to the kernel
        -append TEXT        the kernel command line
        -m SIZE             RAM in MiB, or with M or G (default 128, at most 1T);
                            RAM past 3 GiB is placed from 4 GiB up
        -smp N              vCPUs (default 1)
        -cpu MODEL[,+f,-f]  qemu64, kvm64, max, host, Opteron_G1 or Skylake-Server,
                            with features on or off, vendor=NAME
        -machine pc|q35,accel=kvm,pit=on|off,kernel-irqchip=on|split
                            split: the IOAPIC in the VMM, no PIC and no PIT
        -device pc-testdev | pci-testdev | isa-debug-exit[,iobase=N,iosize=N] | ?
        -device edu         QEMU's edu device (DMA, INTx and MSI)
        -device intel-iommu[,intremap=on|off][,eim=on|off]
                            VT-d at 0xFED90000 (q35; intremap needs split)
        -global kvm-pit.lost_tick_policy=discard|delay
        -overcommit cpu-pm=on  HLT, PAUSE, MWAIT run in the guest (where KVM can)
        -serial stdio|none  -display none  -nographic  -nodefaults  -no-reboot
        -enable-kvm
        -version            -h, --help

        The status is QEMU's: (V << 1) | 1 when the guest writes V to isa-debug-exit,
        0 when it powers off or resets, 1 for a command line it cannot take (one line
        names the option).
        """
}

/// `-cpu`: KVM's supported CPUID with the APIC IDs set, made into the named model's (see
/// `NamedCPUModel`) for a named one, minus the features named with "-", plus those named with
/// "+" that KVM has (QEMU drops one the host lacks, with a warning), and with the vendor given.
public struct QEMUCPUID: CPUIDPolicy {
    /// The `-cpu` value the policy applies.
    public let model: QEMUCommandLine.CPUModel

    /// The policy for `-cpu` value `model`.
    public init(model: QEMUCommandLine.CPUModel) {
        self.model = model
    }

    public func adjust(_ entry: inout CPUIDEntry, vcpu: Int, apicID: UInt32) {
        StandardCPUID().adjust(&entry, vcpu: vcpu, apicID: apicID)
        let kvm = entry
        NamedCPUModel.all[model.model]?.apply(to: &entry)
        for (names, on) in [(model.enabled, true), (model.disabled, false)] {
            for name in names {
                guard let f = QEMUCommandLine.cpuFeatures[name], f.leaf == entry.function, f.subleaf == entry.index else { continue }
                let bit = UInt32(1) << f.bit
                entry[f.register] = on ? entry[f.register] | (kvm[f.register] & bit) : entry[f.register] & ~bit
            }
        }
        if let vendor = model.vendor, entry.function == 0 {
            // Leaf 0 holds the 12-byte vendor in EBX, EDX, ECX (the parser checks its length).
            let bytes = Array(vendor.utf8)
            entry.ebx = cpuidWord(bytes, at: 0)
            entry.edx = cpuidWord(bytes, at: 4)
            entry.ecx = cpuidWord(bytes, at: 8)
        }
    }
}
