import Dispatch
import Platform
import Synchronization
import Testing
import TestSupport
import MachineDevices
import VMM

/// Boots the test guests under KVM and checks their outcome and what the VMM saw.
@Suite(.enabled(if: kvmAvailable)) struct GuestBootTests {
    @Test func helloPrintsAndPasses() throws {
        let (machine, outcome) = try Machine.runGuest(at: guest("hello"), configuration: quietConfiguration(), timeout: 10)
        #expect(outcome == .guestExit(value: 0))
        #expect(machine.console.transcript.contains("hello from vCPU 0"))
    }

    @Test func smpSeesEveryVCPUArrive() throws {
        let (machine, outcome) = try Machine.runGuest(at: guest("smp"), configuration: quietConfiguration(vcpus: 2), timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        #expect(machine.console.transcript.contains("vCPU 0 arrived"))
        #expect(machine.console.transcript.contains("vCPU 1 arrived"))
    }

    @Test func exitsReachTheProbeDeviceInOrder() throws {
        let (machine, outcome) = try Machine.runGuest(at: guest("exits"), configuration: quietConfiguration(), timeout: 10)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        typealias A = ProbeDevice.Access
        #expect(machine.portProbe.recentAccesses == [
            A(isWrite: true, offset: 0, size: 1, value: 0x12), A(isWrite: false, offset: 0, size: 1, value: 0xED),
            A(isWrite: true, offset: 0, size: 2, value: 0x3456), A(isWrite: false, offset: 0, size: 2, value: 0xCBA9),
            A(isWrite: true, offset: 0, size: 4, value: 0x789A_BCDE), A(isWrite: false, offset: 0, size: 4, value: 0x8765_4321),
        ])
        #expect(machine.mmioProbe.recentAccesses == [
            A(isWrite: true, offset: 0x0, size: 1, value: 0x12), A(isWrite: false, offset: 0x0, size: 1, value: 0xED),
            A(isWrite: true, offset: 0x8, size: 2, value: 0x3456), A(isWrite: false, offset: 0x8, size: 2, value: 0xCBA9),
            A(isWrite: true, offset: 0x10, size: 4, value: 0x789A_BCDE), A(isWrite: false, offset: 0x10, size: 4, value: 0x8765_4321),
            A(isWrite: true, offset: 0x18, size: 8, value: 0x0123_4567_89AB_CDEF),
            A(isWrite: false, offset: 0x18, size: 8, value: 0xFEDC_BA98_7654_3210),
        ])
        #expect(machine.portBus.unclaimedAccesses >= 1, "the guest reads an unclaimed port")
        #expect(machine.mmioBus.unclaimedAccesses >= 1, "the guest reads unclaimed MMIO")
    }

    @Test func aGuestThatLoopsForeverIsStoppedByTheTimeout() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let (_, outcome) = try Machine.runGuest(at: guest("spin"), configuration: quietConfiguration(vcpus: 2), timeout: 0.5)
        #expect(outcome == .timeout(seconds: 0.5))
        #expect(outcome.exitStatus == 124)
        #expect(clock.now - start < .seconds(5), "the run stops promptly after the timeout")
    }

    @Test func aTripleFaultIsReportedAsAVCPUFailureWithExitAndRIP() throws {
        let (machine, outcome) = try Machine.runGuest(at: guest("fault"), configuration: quietConfiguration(), timeout: 10)
        #expect(machine.console.transcript.contains("fault: loading an empty IDT"))
        guard case let .vcpuFailed(vcpu, exit, rip) = outcome else {
            Issue.record("expected a vCPU failure, got \(outcome)")
            return
        }
        #expect(vcpu == 0)
        #expect(exit == "SHUTDOWN (triple fault)")
        #expect(rip != nil, "the RIP is read back after the exit")
        #expect(outcome.exitStatus == 126)
        #expect(outcome.description.hasPrefix("vCPU 0 stopped on SHUTDOWN (triple fault) at RIP 0x"))
    }

    /// A limit of the host, not of the VMM: where KVM cannot emulate CMPXCHG16B at CPL 0 (this
    /// project's software-backed KVM), the VMM must report the emulation failure with the RIP.
    /// Where the instruction runs (hardware VMX/SVM), there is nothing to check.
    @Test func anInstructionTheHostCannotEmulateIsReportedWithExitAndRIP() throws {
        let (machine, outcome) = try Machine.runGuest(at: guest("emulator-gap"), configuration: quietConfiguration(), timeout: 10)
        if outcome == .guestExit(value: 0) {
            #expect(machine.console.transcript.contains("cmpxchg16b executed on this host"))
            try Test.cancel("CMPXCHG16B runs on this KVM host: no emulation gap to report")
        }
        guard case let .vcpuFailed(vcpu, exit, rip) = outcome else {
            Issue.record("expected a vCPU failure or a pass, got \(outcome)")
            return
        }
        #expect(vcpu == 0)
        #expect(exit.hasPrefix("INTERNAL_ERROR suberror 1 (emulation failure)"), "\(exit)")
        #expect((rip ?? 0) >= 0x10_0000, "RIP inside the guest image")
        #expect(outcome.exitStatus == 126)
    }

    /// A guest overlaps two BAR0s, then separates them: the refused one must work at once.
    @Test func aRefusedBarWorksOnceTheGuestSeparatesTheBars() throws {
        var configuration = quietConfiguration()
        configuration.testDevices = 2
        let (machine, outcome) = try Machine.runGuest(at: guest("bar-overlap"), configuration: configuration, timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        #expect(machine.console.transcript.contains("bar-overlap: all checks passed"))
    }

    @Test(arguments: [1e300, Double.infinity, Double.nan])
    func outlandishTimeoutsDoNotTrap(timeout: Double) throws {
        let (_, outcome) = try Machine.runGuest(at: guest("hello"), configuration: quietConfiguration(), timeout: timeout)
        #expect(outcome == .guestExit(value: 0))
    }

    @Test func aFailingGuestsExitValueMapsToIsaDebugExitStatus() {
        #expect(RunOutcome.guestExit(value: 0).exitStatus == 0)
        #expect(RunOutcome.guestExit(value: 1).exitStatus == 3)
        #expect(RunOutcome.guestExit(value: 0x80).exitStatus == 1)
        #expect(RunOutcome.guestExit(value: 0xFFFF_FFFF).exitStatus == 0xFF)
        for value in 1..<600 as Range<UInt64> { #expect(RunOutcome.guestExit(value: value).exitStatus != 0) }
    }
}

/// CI sets VMM_REQUIRE_KVM=1: there, guest tests that would skip make the run fail instead.
@Suite struct GuestKVMRequirementTests {
    @Test func kvmOpensWhenTheRunRequiresIt() {
        #expect(kvmRequirementIsMet, "VMM_REQUIRE_KVM=1, but the guest tests would skip: \(kvmUnavailableReason ?? "")")
    }
}

/// The machine's phases: built → loaded → running → finished, each step checked.
@Suite(.enabled(if: kvmAvailable)) struct MachinePhaseTests {
    @Test func runningBeforeLoadingFailsAndLeavesTheMachineUsable() throws {
        let machine = try Machine(quietConfiguration())
        #expect(machine.phase == .built)
        let early = machine.run(timeout: 1)
        #expect(early == .hostError("cannot run: no guest is loaded (call load first)"))
        #expect(machine.phase == .built, "a mistaken run does not use the machine up")
        let image = try ELFImage(bytes: HostFile.read(guest("hello")), name: "hello")
        try machine.load(image)
        guard case .loaded = machine.phase else { Issue.record("phase \(machine.phase) after load"); return }
        #expect(machine.run(timeout: 10) == .guestExit(value: 0))
        #expect(machine.phase == .finished)
        #expect(machine.run(timeout: 1) == .hostError("cannot run: this machine has already run; build a new one"))
        #expect(throws: VMMError.machinePhase(action: "load a guest", phase: .finished)) { try machine.load(image) }
        #expect(throws: VMMError.machinePhase(action: "change the device tree", phase: .finished)) { try machine.installDeviceTree() }
    }

    @Test func concurrentRunsStartOneRun() throws {
        let machine = try Machine(quietConfiguration())
        try machine.load(ELFImage(bytes: HostFile.read(guest("hello")), name: "hello"))
        let outcomes = Mutex<[RunOutcome]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let outcome = machine.run(timeout: 10)
            outcomes.withLock { $0.append(outcome) }
        }
        let all = outcomes.withLock { $0 }
        #expect(all.filter { $0 == .guestExit(value: 0) }.count == 1, "\(all)")
        #expect(all.filter { if case .hostError = $0 { true } else { false } }.count == 3, "\(all)")
    }
}

@Suite struct MachineConfigurationTests {
    @Test func everyRegionIsCheckedAgainstEveryOther() {
        var configuration = MachineConfiguration()
        configuration.layout.mmioWindowBase = 0xFFF0_0000
        configuration.layout.mmioWindowSize = 0x10_0000
        #expect(throws: VMMError.layout("KVM TSS at 0xfffbd000 (0x4000 bytes) overlaps PCI MMIO window at 0xfff00000 (0x100000 bytes)")) {
            try configuration.validate()
        }
        configuration = MachineConfiguration()
        configuration.layout.probeMMIOBase = 0xFEC0_0000
        #expect(throws: VMMError.layout("IOAPIC at 0xfec00000 (0x1000 bytes) overlaps probe MMIO at 0xfec00000 (0x1000 bytes)")) {
            try configuration.validate()
        }
        configuration = MachineConfiguration()
        configuration.layout.consolePort = 0xCFC
        #expect(throws: VMMError.layout("PCI config ports at 0xcf8 (0x8 bytes) overlaps console at 0xcfc (0x8 bytes)")) {
            try configuration.validate()
        }
        configuration = MachineConfiguration()
        configuration.layout.ioWindowBase = 0xF000
        configuration.layout.ioWindowSize = 0x2000
        #expect(throws: VMMError.layout("PCI I/O window at 0xf000 (0x2000 bytes) must lie below port 0x10000")) {
            try configuration.validate()
        }
        configuration = MachineConfiguration()
        configuration.layout.exitPort = 0xE2
        #expect(throws: VMMError.layout("probe ports at 0xe0 (0x4 bytes) overlaps exit port at 0xe2 (0x4 bytes)")) {
            try configuration.validate()
        }
        #expect(throws: Never.self) { try MachineConfiguration().validate() }
    }

    @Test func badSizesAndCountsAreRefusedWithTheValue() {
        var configuration = MachineConfiguration()
        configuration.layout.ramSize = 1 << 20
        #expect(throws: VMMError.memoryTooSmall(requested: 1 << 20, minimum: 2 << 20)) { try configuration.validate() }
        configuration.layout.ramSize = 4 << 30
        #expect(throws: VMMError.memoryTooLarge(requested: 4 << 30, limit: 0xC000_0000)) { try configuration.validate() }
        configuration.layout.ramSize = (64 << 20) + 4096
        #expect(throws: VMMError.memoryNotAligned((64 << 20) + 4096)) { try configuration.validate() }
        configuration.layout.ramSize = 64 << 20
        configuration.layout.vcpuCount = 0
        #expect(throws: VMMError.self) { try configuration.validate() }
        configuration.layout.vcpuCount = 1000
        #expect(throws: VMMError.self) { try configuration.validate() }
        configuration.layout.vcpuCount = 2
        #expect(throws: Never.self) { try configuration.validate() }
    }
}
