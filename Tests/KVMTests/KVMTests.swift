import CKVM
import KVM
import Testing
import TestSupport


/// CI sets VMM_REQUIRE_KVM=1: there, KVM tests that would skip make the run fail instead.
@Suite struct KVMRequirementTests {
    @Test func kvmOpensWhenTheRunRequiresIt() {
        #expect(kvmRequirementIsMet, "VMM_REQUIRE_KVM=1, but KVM tests would skip: \(kvmUnavailableReason ?? "")")
    }
}

@Suite struct KVMErrorTests {
    @Test func openingAMissingDeviceNamesThePathAndErrno() {
        #expect(throws: KVMError.open(path: "/dev/no-kvm-here", errno: 2)) { try KVMSystem(path: "/dev/no-kvm-here") }
        let message = "\(KVMError.open(path: "/dev/kvm", errno: 13))"
        #expect(message == "cannot open /dev/kvm: EACCES (no permission: run as root or join the kvm group)")
    }

    @Test func ioctlErrorsNameTheIoctlItsArgumentAndTheErrno() {
        let error = KVMError.ioctl(name: "KVM_SET_USER_MEMORY_REGION", argument: "for slot 0 (64 MiB at 0x0)", errno: 17)
        #expect("\(error)" == "KVM_SET_USER_MEMORY_REGION for slot 0 (64 MiB at 0x0) failed: EEXIST")
        #expect(error.errno == 17)
    }
}

@Suite(.enabled(if: kvmAvailable)) struct KVMSystemTests {
    @Test func reportsTheCapabilitiesThisVMMNeeds() throws {
        let kvm = try KVMSystem()
        for capability in [KVMCapability.irqchip, .irqfd, .signalMSI, .irqRouting, .ioeventfd, .immediateExit] {
            #expect(kvm.check(capability) > 0, "\(capability)")
        }
        #expect(try kvm.vcpuMmapSize() >= 4096)
        #expect(try kvm.supportedCPUID().count > 0)
    }

    @Test func overlappingMemorySlotsFailWithEEXISTOrEINVAL() throws {
        let vm = try KVMSystem().createVirtualMachine()
        let host = UnsafeMutableRawPointer.allocate(byteCount: 0x4000, alignment: 4096)
        defer { host.deallocate() }
        try vm.setUserMemoryRegion(slot: 0, guestAddress: 0, size: 0x4000, host: host)
        do {
            try vm.setUserMemoryRegion(slot: 1, guestAddress: 0x2000, size: 0x2000, host: host)
            Issue.record("an overlapping slot was accepted")
        } catch let error as KVMError {
            #expect([17, 22].contains(error.errno ?? 0))
            #expect("\(error)".hasPrefix("KVM_SET_USER_MEMORY_REGION for slot 1 (8 KiB at 0x2000) failed: E"))
        }
    }

    @Test func msiRoutingBeforeAnIrqchipExistsFails() throws {
        let vm = try KVMSystem().createVirtualMachine()
        let events = try EventFD()
        #expect(throws: KVMError.self) { try vm.attachIRQFD(events, gsi: 30) }
    }

    @Test func routingIrqfdAndSignalMSIWorkWithAnIrqchip() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        _ = try vm.createVCPU(id: 0)
        try vm.setGSIRouting(GSIRoute.defaultPinRoutes + [.msi(gsi: 24, address: 0xFEE0_0000, data: 0x40)])
        let events = try EventFD()
        try vm.attachIRQFD(events, gsi: 24)
        try events.signal()
        try vm.detachIRQFD(events, gsi: 24)
        _ = try vm.signalMSI(address: 0xFEE0_0000, data: 0x41)
    }

    @Test func defaultPinRoutesCoverGSI0To23() {
        let routes = GSIRoute.defaultPinRoutes
        #expect(Set(routes.map(\.gsi)) == Set(0..<24))
        #expect(routes.contains(.irqchip(gsi: 0, chip: 2, pin: 0)))
        #expect(routes.contains(.irqchip(gsi: 9, chip: 1, pin: 1)))
    }

    @Test func ioeventfdSignalsAreRegisteredAndRemoved() throws {
        let vm = try KVMSystem().createVirtualMachine()
        let events = try EventFD(nonblocking: true)
        try vm.attachIOEventFD(events, address: 0xD000_0000, length: 4)
        #expect(throws: KVMError.self) { try vm.attachIOEventFD(events, address: 0xD000_0000, length: 4) }
        try vm.attachIOEventFD(events, address: 0xD000_0000, length: 4, deassign: true)
        #expect(try events.consume() == nil)
        try events.signal(3)
        #expect(try events.consume() == 3)
    }

    @Test func withAnIrqchipAPsWaitForINITUntilMadeRunnable() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        _ = try vm.createVCPU(id: 0)
        let ap = try vm.createVCPU(id: 1)
        #expect(try ap.mpState() == UInt32(KVM_MP_STATE_UNINITIALIZED), "an AP waits for INIT/SIPI")
        try ap.makeRunnable()
        #expect(try ap.mpState() == UInt32(KVM_MP_STATE_RUNNABLE))
    }

    @Test func vcpuRegistersRoundTrip() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        var regs = try vcpu.registers()
        regs.rip = 0x12_3456
        regs.rsi = 7
        try vcpu.setRegisters(regs)
        #expect(try vcpu.registers().rip == 0x12_3456)
        #expect(try vcpu.registers().rsi == 7)
        #expect(try vcpu.lapicState().count == 1024)
    }
}
