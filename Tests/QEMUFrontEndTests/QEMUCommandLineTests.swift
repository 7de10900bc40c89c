import MachineDevices
import QEMUFrontEnd
import Testing
import VMM

@Suite struct QEMUCommandLineTests {
    /// The command x86/run builds for a kvm-unit-tests test, as run_tests.sh passes it.
    static let kvmUnitTests = ["--no-reboot", "-nodefaults", "-global", "kvm-pit.lost_tick_policy=discard", "-device", "pc-testdev",
                               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-display", "none", "-serial", "stdio",
                               "-device", "pci-testdev", "-machine", "accel=kvm", "-kernel", "x86/smptest.flat", "-smp", "2",
                               "-initrd", "/tmp/tmp.env"]

    @Test func theKvmUnitTestsCommandMapsOntoAPCMachine() throws {
        let line = try QEMUCommandLine(Self.kvmUnitTests)
        #expect(line.kernel == "x86/smptest.flat" && line.initrds == ["/tmp/tmp.env"] && line.cpus == 2 && line.memoryMiB == 128)
        #expect(line.noReboot && line.serialToStdout && line.testDevice && line.pciTestDevice && !line.pitReinjection)
        #expect(line.debugExit?.base == 0xF4 && line.debugExit?.size == 4)
        let c = line.configuration()
        #expect(c.machine == .pc && c.layout.ramSize == 128 << 20 && c.layout.vcpuCount == 2 && c.layout.exitPort == 0xF4)
        #expect(c.standardDevices == [.exitPort] && c.testDevices == 0)
        #expect(c.pc == { var o = PCOptions(); o.pitReinjection = false; return o }())
        try c.validate()
    }

    @Test func optionsTheTestsAddAreTaken() throws {
        var line = try QEMUCommandLine(["-cpu", "qemu64,+x2apic,-tsc-deadline,vendor=GenuineIntel", "-m", "2048", "-smp", "cpus=4",
                                        "-machine", "pit=off", "-append", "10000000 1700000000", "-enable-kvm", "-nographic"])
        #expect(line.cpu == QEMUCommandLine.CPUModel(model: "qemu64", enabled: ["x2apic"], disabled: ["tsc-deadline"], vendor: "GenuineIntel"))
        #expect(line.memoryMiB == 2048 && line.cpus == 4 && !line.pit && line.append == "10000000 1700000000")
        line = try QEMUCommandLine(["-m", "1G", "-M", "pc"])
        #expect(line.memoryMiB == 1024)
        #expect(try QEMUCommandLine(["-device", "?"]).action == .listDevices)
        #expect(try QEMUCommandLine(["-h"]).action == .help && QEMUCommandLine.help.hasPrefix("QEMU emulator version 9.0.0"))
        let wide = QEMUCommandLine.help.split(separator: "\n").filter { $0.count > 80 }
        #expect(wide.isEmpty, "help lines wider than 80 columns: \(wide)")
        #expect(QEMUCommandLine.deviceList.contains("\"pc-testdev\"") && QEMUCommandLine.deviceList.contains("pci-testdev"))
    }

    /// intel_iommu's line: q35, the split irqchip, VT-d with interrupt remapping, edu.
    @Test func theIOMMUTestsMachineIsSplitWithVTdAndEdu() throws {
        let line = try QEMUCommandLine(["-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on,eim=off", "-device", "edu"])
        #expect(line.q35 && line.splitIRQChip && line.eduDevice)
        #expect(line.iommu == .init(interruptRemapping: true, extendedInterruptMode: false))
        let c = line.configuration()
        #expect(c.pc.irqchip == .split && !c.pc.pit, "split: no PIT")
        #expect(c.pc.iommu == .init(interruptRemapping: true, extendedInterruptMode: false) && c.pc.eduDevice)
        try c.validate()
        #expect(try QEMUCommandLine(["-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on"]).iommu?.extendedInterruptMode == true,
                "eim defaults to on with intremap, as QEMU's with a split irqchip")
        #expect(try QEMUCommandLine(["-M", "q35", "-device", "intel-iommu"]).configuration().pc.irqchip == .kernel, "DMA remapping alone")
        #expect(QEMUCommandLine.deviceList.contains("\"edu\"") && QEMUCommandLine.deviceList.contains("\"intel-iommu\""))
    }

    /// `iosize=` is how many ports the exit device claims: the rest stay free.
    @Test func theDebugExitTakesItsIOSize() throws {
        let one = try QEMUCommandLine(["-device", "isa-debug-exit,iobase=0x501,iosize=1"]).configuration()
        #expect(one.layout.exitPort == 0x501 && one.layout.exitPortSize == 1)
        #expect(one.layout.portRegions.contains { $0.name == "exit port" && $0.base == 0x501 && $0.size == 1 })
        let standard = try QEMUCommandLine(["-device", "isa-debug-exit"]).configuration()
        #expect(standard.layout.exitPort == 0x501 && standard.layout.exitPortSize == 2, "QEMU's defaults")
    }

    @Test func ramPastThreeGiBIsPlacedFromFourGiB() throws {
        let c = try QEMUCommandLine(["-m", "4g"]).configuration()
        #expect(c.layout.ramSize == 3 << 30 && c.layout.highRAMSize == 1 << 30 && c.layout.totalRAM == 4 << 30)
        try c.validate()
        let small = try QEMUCommandLine(["-m", "3072"]).configuration()
        #expect(small.layout.ramSize == 3 << 30 && small.layout.highRAMSize == 0)
    }

    /// `-overcommit cpu-pm=on` leaves to the guest every exit KVM can leave, and no other.
    @Test func cpuPMLeavesWhatKVMCanToTheGuest() throws {
        let line = try QEMUCommandLine(["-overcommit", "cpu-pm=on", "-m", "64"])
        #expect(line.cpuPM)
        #expect(line.configuration(guestOwnableExits: [.hlt, .pause]).guestOwnedExits == [.hlt, .pause])
        #expect(line.configuration().guestOwnedExits == [])
        #expect(try QEMUCommandLine(["-m", "64"]).configuration(guestOwnableExits: [.hlt]).guestOwnedExits == [])
    }

    /// Anything else is refused with one line naming the option: the harness then skips the test.
    @Test(arguments: [
        (["-device", "hyperv-testdev"], "-device hyperv-testdev: unsupported value"),
        (["-M", "q35,kernel-irqchip=off"], "-machine kernel-irqchip=off: unsupported value"),
        (["-device", "intel-iommu"], "-device intel-iommu needs -machine q35"),
        (["-M", "q35", "-device", "intel-iommu,intremap=on"], "-device intel-iommu,intremap=on needs -machine kernel-irqchip=split"),
        (["-M", "q35", "-device", "intel-iommu,eim=on"], "-device intel-iommu,eim=on needs intremap=on"),
        (["-device", "intel-iommu,caching-mode=on"], "-device caching-mode=on: unsupported value"),
        (["-device", "edu,dma_mask=0xffff"], "-device edu,dma_mask=0xffff: unsupported value"),
        (["-cpu", "IvyBridge,phys-bits=36"], "-cpu IvyBridge: unsupported value"),
        (["-cpu", "max,phys-bits=36"], "-cpu phys-bits=36: unsupported value"),
        (["-m", "1025g"], "-m 1025g: more RAM than the pc machine takes (at most 1048576 MiB)"),
        (["-overcommit", "mem-lock=on"], "-overcommit mem-lock=on: unsupported value"),
        (["-cpu", "host,hv_passthrough"], "-cpu hv_passthrough: unsupported value"),
        (["-cpu", "Skylake-Server,+vmx-mbec"], "-cpu +vmx-mbec: unsupported value"),
        (["-smp", "0"], "-smp 0: unsupported value"),
        (["-kernel"], "-kernel needs a value"),
        (["x86/foo.flat"], "x86/foo.flat: unexpected argument (options start with -)"),
        (["-machine", "accel=tcg"], "-machine accel=tcg: unsupported value"),
    ])
    func othersAreRefusedNamingTheOption(arguments: [String], message: String) {
        #expect(throws: QEMUCommandLineError.self) { _ = try QEMUCommandLine(arguments) }
        do { _ = try QEMUCommandLine(arguments) } catch { #expect("\(error)" == message) }
    }

    @Test func statusesAreQEMUs() {
        #expect(QEMUCommandLine.exitStatus(.guestExit(value: 0)) == 1, "kvm-unit-tests' pass")
        #expect(QEMUCommandLine.exitStatus(.guestExit(value: 1)) == 3)
        #expect(QEMUCommandLine.exitStatus(.guestExit(value: 38)) == 77, "all skipped")
        #expect(QEMUCommandLine.exitStatus(.poweredOff(reason: "ACPI S5")) == 0)
        #expect(QEMUCommandLine.exitStatus(.vcpuFailed(vcpu: 0, exit: "SHUTDOWN (triple fault)", rip: nil)) == 0)
        #expect(QEMUCommandLine.exitStatus(.vcpuFailed(vcpu: 0, exit: "INTERNAL_ERROR suberror 1", rip: nil)) == 2)
    }
}
