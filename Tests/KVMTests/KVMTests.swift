#if canImport(Glibc)
import Glibc
#endif
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
    }

    @Test func defaultPinRoutesCoverGSI0To23() {
        let routes = GSIRoute.defaultPinRoutes
        #expect(Set(routes.map(\.gsi)) == Set(0..<24))
        #expect(routes.contains(.irqchip(gsi: 0, chip: 2, pin: 0)))
        #expect(routes.contains(.irqchip(gsi: 9, chip: 1, pin: 1)))
    }

    /// A real-mode guest writes a word to 0x20000 (outside RAM) and halts: with the ioeventfd
    /// registered the write signals the eventfd and never exits; once it is removed, the same
    /// write is an MMIO exit.
    @Test func ioeventfdSignalsAreRegisteredAndRemoved() throws {
        let guest = try RealModeWordWriter()
        let vm = guest.vm
        let events = try EventFD(nonblocking: true)
        try vm.attachIOEventFD(events, address: 0x2_0000, length: 2)
        #expect(throws: KVMError.self) { try vm.attachIOEventFD(events, address: 0x2_0000, length: 2) }
        var exit = try guest.run(writing: 0x1234)
        guard case .hlt = exit else { Issue.record("expected HLT with the ioeventfd, got \(exit)"); return }
        #expect(try events.consume() == 1, "the guest's write signalled the eventfd, with no exit")
        try vm.attachIOEventFD(events, address: 0x2_0000, length: 2, deassign: true)
        exit = try guest.run(writing: 0x1234)
        guard case let .mmio(address, size, isWrite, value) = exit else { Issue.record("expected an MMIO exit, got \(exit)"); return }
        #expect(address == 0x2_0000 && size == 2 && isWrite)
        #expect(value == 0x1234)
        #expect(try events.consume() == nil, "nothing signalled once removed")
    }

    /// With datamatch only a write of that value is caught; another value exits as MMIO.
    @Test func ioeventfdWithDatamatchCatchesOnlyItsValue() throws {
        let guest = try RealModeWordWriter()
        let vm = guest.vm
        let events = try EventFD(nonblocking: true)
        try vm.attachIOEventFD(events, address: 0x2_0000, length: 2, datamatch: 0x1234)
        guard case .hlt = try guest.run(writing: 0x1234) else { Issue.record("the matching write was not caught"); return }
        #expect(try events.consume() == 1)
        guard case let .mmio(address, _, isWrite, value) = try guest.run(writing: 0x4321) else { Issue.record("another value must exit"); return }
        #expect(address == 0x2_0000 && isWrite && value == 0x4321)
        #expect(try events.consume() == nil)
        #expect(throws: KVMError.self) { try vm.attachIOEventFD(events, address: 0x2_0000, length: 2, datamatch: 0x9999, deassign: true) }
        try vm.attachIOEventFD(events, address: 0x2_0000, length: 2, datamatch: 0x1234, deassign: true)
    }

    /// INTx: KVM_IRQ_LINE holds an IOAPIC pin at a level; with the pin routed (level-triggered,
    /// unmasked) its vector reaches the LAPIC; a resample irqfd asserts the same pin from an
    /// eventfd write.
    @Test func irqLinesHoldTheirLevelAndReachTheLAPICThroughTheIOAPIC() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        var page = try vcpu.lapicState()
        page[0xF1] |= 0x01  // SVR bit 8: software enable
        try vcpu.setLapicState(page)
        func irr(_ vector: Int) throws -> Bool {
            let p = try vcpu.lapicState()
            return p.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0x200 + 0x10 * (vector / 32), as: UInt32.self) } & (1 << UInt32(vector % 32)) != 0
        }
        try vm.setIRQLine(gsi: 10, high: true)
        #expect(try vm.ioapicState().pinLevels & (1 << 10) != 0, "the pin stays high")
        #expect(try !irr(0x50), "masked by default: nothing delivered")
        try vm.setIRQLine(gsi: 10, high: false)
        #expect(try vm.ioapicState().pinLevels & (1 << 10) == 0)
        // Vector 0x50, fixed, physical destination 0, active high, level-triggered, unmasked.
        try vm.setIOAPICRedirection(pin: 10, 0x50 | 1 << 15)
        #expect(try vm.ioapicState().redirection[10] & 0x1_80FF == 0x80_50)
        #expect(try vm.setIRQLine(gsi: 10, high: true) > 0, "delivered")
        #expect(try irr(0x50), "the pin's vector waits in the LAPIC's IRR")
        try vm.setIRQLine(gsi: 10, high: false)
        // The same pin from an irqfd with a resample fd (level semantics without an exit).
        try vm.setIOAPICRedirection(pin: 11, 0x51 | 1 << 15)
        let trigger = try EventFD(nonblocking: true), resample = try EventFD(nonblocking: true)
        try vm.attachIRQFD(trigger, gsi: 11, resample: resample)
        try trigger.signal()
        // A pin route is injected by a kernel worker after the eventfd write: wait for it.
        let clock = ContinuousClock(), deadline = clock.now + .seconds(5)
        while try !irr(0x51), clock.now < deadline { usleep(1000) }
        #expect(try irr(0x51), "an eventfd write asserted the pin")
        #expect(try resample.consume() == nil, "no EOI yet: nothing to resample")
        try vm.detachIRQFD(trigger, gsi: 11)
        #expect(throws: KVMError.self) { try vm.setIOAPICRedirection(pin: 24, 0) }
    }

    /// KVM_SIGNAL_MSI with the LAPIC software-enabled: delivered (1), and the vector is in the
    /// LAPIC's IRR afterwards; aimed at an APIC ID no vCPU has, it is not delivered.
    @Test func signalMSIPutsTheVectorIntoTheLAPICsIRR() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        func irrBit(_ vector: Int) throws -> Bool {
            let page = try vcpu.lapicState()
            let word = page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0x200 + 0x10 * (vector / 32), as: UInt32.self) }
            return word & (1 << UInt32(vector % 32)) != 0
        }
        var page = try vcpu.lapicState()
        page[0xF1] |= 0x01  // SVR (0xF0) bit 8: APIC software enable
        try vcpu.setLapicState(page)
        #expect(try !irrBit(0x41))
        #expect(try vm.signalMSI(address: 0xFEE0_0000, data: 0x41) == true, "delivered to APIC ID 0")
        #expect(try irrBit(0x41), "the vector waits in the IRR")
        #expect(try !irrBit(0x42))
        // No APIC ID 7: not delivered (KVM answers 0, or on some kernels refuses the message).
        #expect((try? vm.signalMSI(address: 0xFEE0_0000 | 7 << 12, data: 0x42)) != true)
        #expect(try !irrBit(0x42))
    }

    @Test func withAnIrqchipAPsWaitForINITUntilMadeRunnable() throws {
        let vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        _ = try vm.createVCPU(id: 0)
        let ap = try vm.createVCPU(id: 1)
        #expect(try ap.mpState() == .uninitialized, "an AP waits for INIT/SIPI")
        try ap.makeRunnable()
        #expect(try ap.mpState() == .runnable)
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
        var sregs = try vcpu.specialRegisters()
        sregs.cs = .flat(selector: 0x08, type: 0xB, defaultSize32: true, longMode: false)
        sregs.gdt = DescriptorTableRegister(base: 0x5000, limit: 0x17)
        try vcpu.setSpecialRegisters(sregs)
        let back = try vcpu.specialRegisters()
        #expect(back.cs == sregs.cs && back.gdt == sregs.gdt, "segments and tables survive KVM_SET/GET_SREGS")
    }

    /// Port data goes through the vCPU's accessors: an OUT's value is read, an IN's value is
    /// stored and reaches the guest (which writes it back as MMIO), an item outside the exit
    /// reads as 0 and is not written.
    @Test func portDataIsReadAndCompletedThroughTheVCPU() throws {
        let guest = try RealModeWordWriter()
        // mov dx, 0x1234; mov al, 0x5A; out dx, al; in al, dx; mov cx, 0x2000; mov ds, cx; mov [0], al; hlt
        let code: [UInt8] = [0xBA, 0x34, 0x12, 0xB0, 0x5A, 0xEE, 0xEC, 0xB9, 0x00, 0x20, 0x8E, 0xD9, 0xA2, 0x00, 0x00, 0xF4]
        let out = try guest.run(code: code)
        #expect(out == .io(port: 0x1234, size: 1, isWrite: true, count: 1))
        #expect(guest.vcpu.ioData(item: 0) == 0x5A)
        #expect(guest.vcpu.ioData(item: 1) == 0 && guest.vcpu.ioData(item: -1) == 0, "outside the exit's data")
        let input = try guest.vcpu.run()
        #expect(input == .io(port: 0x1234, size: 1, isWrite: false, count: 1))
        guest.vcpu.setIOData(0xC3, item: 0)
        guest.vcpu.setIOData(0xFF, item: 5)
        #expect(try guest.vcpu.run() == .mmio(address: 0x2_0000, size: 1, isWrite: true, value: 0xC3), "the guest read what was stored")
    }
}

/// A VM whose one vCPU runs a few real-mode instructions, `mov ax, 0x2000; mov ds, ax;
/// mov word [0], value; hlt`: a 2-byte write to guest-physical 0x20000, outside its 64 KiB of
/// RAM (so an MMIO exit, or an ioeventfd), then HLT (no irqchip: KVM_EXIT_HLT).
final class RealModeWordWriter {
    let vm: KVMVirtualMachine
    let vcpu: KVMVCPU
    private let ram: UnsafeMutableRawPointer

    init() throws {
        vm = try KVMSystem().createVirtualMachine()
        ram = UnsafeMutableRawPointer.allocate(byteCount: 0x1_0000, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0xF4, count: 0x1_0000)
        try vm.setUserMemoryRegion(slot: 0, guestAddress: 0, size: 0x1_0000, host: ram)
        try vm.setTSSAddress(0xFFFB_D000)
        vcpu = try vm.createVCPU(id: 0)
    }

    deinit { ram.deallocate() }

    /// Runs the code once, from the start, writing `value`; returns the first exit.
    func run(writing value: UInt16) throws -> VCPUExit {
        try run(code: [0xB8, 0x00, 0x20, 0x8E, 0xD8, 0xC7, 0x06, 0x00, 0x00, UInt8(value & 0xFF), UInt8(value >> 8), 0xF4])
    }

    /// Runs `code` (real mode, at 0x1000) from the start; returns the first exit.
    func run(code: [UInt8]) throws -> VCPUExit {
        ram.advanced(by: 0x1000).copyMemory(from: code, byteCount: code.count)
        var sregs = try vcpu.specialRegisters()
        sregs.cs.base = 0
        sregs.cs.selector = 0
        try vcpu.setSpecialRegisters(sregs)
        var regs = Registers()
        regs.rip = 0x1000
        try vcpu.setRegisters(regs)
        return try vcpu.run()
    }
}
