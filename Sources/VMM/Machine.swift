#if canImport(Glibc)
import Glibc
#endif
import CKVM
import Devices
import Interrupts
import KVM
import MachineDevices
import Memory
import PCI
import Platform
import TextFormat
import Threads

/// A machine built from a `MachineConfiguration`: KVM VM with in-kernel irqchip (only the LAPICs
/// when a pc machine's irqchip is split), guest RAM (and
/// any extra memory slots), vCPUs, the port and MMIO buses with the console, exit and probe
/// devices (those the configuration keeps), PCI bus 0, the MSI-X test devices and the caller's
/// own devices. Load a guest, then `run`.
///
/// A machine goes through its phases once, in order: built → guest loaded → running → finished.
/// `load` may be called again until the run starts (the last image wins); `run` before a guest
/// is loaded fails without using the machine up; after a run, build a new machine for the next.
/// Every method is safe to call from any thread: the phase and the boot data live in one mutex.
public final class Machine: Sendable {
    /// The configuration the machine was built from (validated).
    public let configuration: MachineConfiguration
    /// The machine's layout: `configuration.layout`.
    public var layout: MachineLayout { configuration.layout }
    /// The KVM system, opened at `configuration.kvmDevicePath`.
    public let kvm: KVMSystem
    /// The KVM virtual machine, with its in-kernel irqchip (LAPICs, IOAPIC, and the 8259s; only
    /// the LAPICs with a split irqchip, whose IOAPIC is the VMM's).
    public let vm: KVMVirtualMachine
    /// RAM at guest-physical 0 (the host mapping of `ram`).
    public let memory: GuestMemory
    /// RAM at 0 as a KVM slot (slot 0): dirty pages when `configuration.logDirtyRAM` is set.
    public let ram: MemorySlot
    /// `configuration.extraMemory`, mapped, in order (slots 1, 2, …).
    public let extraMemory: [MemorySlot]
    /// RAM above 4 GiB (`layout.highRAMSize`), in the slot after the extra regions; nil without it.
    public let highRAM: MemorySlot?
    /// The vCPUs, in index order: vCPU i's KVM ID is its APIC ID, `layout.apicID(ofVCPU: i)` (i
    /// unless the layout gives `apicIDs`); vCPU 0 is the bootstrap processor.
    public let vcpus: [KVMVCPU]
    /// The port I/O bus (ports 0…0xFFFF); register a device here to answer guest IN and OUT.
    public let portBus: Bus
    /// The MMIO bus: guest-physical addresses no memory slot backs; register devices here.
    public let mmioBus: Bus
    /// The console (its `transcript` is what the guest printed): the 8250 at `layout.consolePort`
    /// on our machine while `standardDevices` keeps `.console`; COM1's output on the pc machine.
    public let console: ConsoleDevice
    /// The probe device at the probe port block (`layout.probePort`); on the bus only when the
    /// configuration keeps `.probe` (never on the pc machine, whose pc-testdev has those ports).
    public let portProbe = ProbeDevice()
    /// The probe device at the probe MMIO page (`layout.probeMMIOBase`); on the bus under the
    /// same conditions as `portProbe`.
    public let mmioProbe = ProbeDevice()
    /// PCI bus 0, reached through ports 0xCF8/0xCFC and the ECAM window.
    public let pci: PCIRoot
    /// The VM's GSI routing table, shared by every device's MSI vectors.
    public let routes: GSIRouteTable
    /// The MSI-X test devices, in slot order (00:01.0, 00:02.0, …).
    public let testDevices: [MSIXTestDevice]
    /// The caller's devices (`configuration.devices`), attached.
    public let components: [any MachineComponent]

    /// Where a machine is in its life.
    public enum Phase: Sendable, Equatable {
        /// Built, with no guest loaded yet: `run` refuses and leaves the machine usable.
        case built
        /// A boot plan is in memory; the name of the protocol that made it.
        case loaded(protocol: String)
        /// `run` has started the vCPUs and not yet returned.
        case running
        /// The run has ended; the machine cannot load or run again.
        case finished
    }

    /// The phase and what a run starts from, changed together.
    struct Boot {
        var phase = Phase.built
        var starts: [BootPlan.VCPUStart] = []
        var deviceTree: [UInt8] = []
    }

    let completion = Completion()
    /// ACPI S3 on a pc machine (nil on ours).
    let suspension: Suspension?
    /// The VMM's IOAPIC, when a pc machine's irqchip is split.
    let splitIRQChip: SplitIRQChip?
    private let boot = Locked(Boot())
    /// vCPU threads; a vCPU may kick the others while later ones are still being started.
    private let threads = Locked<[OSThread]>([])
    private let statisticsState = Locked(RunStatistics())

    /// Where the machine is in its life.
    public var phase: Phase { boot.withLock { $0.phase } }

    /// Exit counts and duration of the run, complete once `run` has returned.
    public var statistics: RunStatistics { statisticsState.withLock { $0 } }

    /// Opens KVM and builds the machine. Throws `VMMError` for a bad configuration and `KVMError`
    /// naming the ioctl that failed.
    public init(_ configuration: MachineConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        let layout = configuration.layout
        let kvm = try KVMSystem(path: configuration.kvmDevicePath)
        let vm = try kvm.createVirtualMachine()
        // Each vector in use holds an eventfd; room for all of them now, while no thread of the
        // machine runs (see DescriptorTable.swift), plus the machine's own and some to spare.
        DescriptorTable.reserve(256 + configuration.testDevices * configuration.msixVectors, duplicating: vm.fd.rawValue)
        let memory = try GuestMemory(size: layout.ramSize)
        self.kvm = kvm
        self.vm = vm
        self.memory = memory
        ram = try MemorySlot(name: "RAM", slot: 0, guestBase: 0, memory: memory, readOnly: false,
                             logsDirtyPages: configuration.logDirtyRAM, vm: vm)
        if configuration.extraMemory.contains(where: { if case .rom = $0.kind { true } else { false } }),
           kvm.check(.readOnlyMemory) == 0 {
            throw VMMError.layout("ROM regions need \(KVMCapability.readOnlyMemory), which this KVM lacks")
        }
        extraMemory = try configuration.extraMemory.enumerated().map { index, region in
            let mapping = try GuestMemory(size: region.size)
            var readOnly = false
            if case let .rom(contents) = region.kind {
                try mapping.write(contents, at: 0)
                readOnly = true
            }
            return try MemorySlot(name: region.name, slot: UInt32(index + 1), guestBase: region.base, memory: mapping,
                                  readOnly: readOnly, logsDirtyPages: region.logDirtyPages, vm: vm)
        }
        highRAM = try layout.highRAMRegion.map { region in
            try MemorySlot(name: region.name, slot: UInt32(configuration.extraMemory.count + 1), guestBase: region.base,
                           memory: try GuestMemory(size: region.size), readOnly: false,
                           logsDirtyPages: configuration.logDirtyRAM, vm: vm)
        }
        try vm.setTSSAddress(layout.tssBase)
        let isPC = configuration.machine == .pc
        let split = isPC && configuration.pc.irqchip == .split
        if split { try vm.enableSplitIRQChip(reservedPins: UInt32(IOAPIC.pinCount)) } else { try vm.createIRQChip() }
        if !configuration.guestOwnedExits.isEmpty {
            let possible = KVMVirtualMachine.GuestOwnedExits(rawValue: UInt32(truncatingIfNeeded: kvm.check(.disableExits)))
            guard possible.isSuperset(of: configuration.guestOwnedExits) else {
                throw VMMError.layout("this KVM cannot leave exits \(hex(configuration.guestOwnedExits.rawValue)) to the guest "
                    + "(\(KVMCapability.disableExits) allows \(hex(possible.rawValue)))")
            }
            try vm.disableExits(configuration.guestOwnedExits)
        }

        let apicIDs = layout.vcpuAPICIDs
        try Self.prepareAPICIDs(apicIDs, kvm: kvm, vm: vm)
        let extendedDestinationIDs = vm.x2apicAPI.contains(.use32BitIDs)
        let cpuid = try kvm.supportedCPUID()
        vcpus = try apicIDs.enumerated().map { index, apicID in
            let vcpu = try vm.createVCPU(id: Int(apicID))
            var table = cpuid
            table.update { entry in
                configuration.cpuid.adjust(&entry, vcpu: index, apicID: apicID)
                // KVM_FEATURE_MSI_EXT_DEST_ID: the guest may put destination bits 14:8 in MSI
                // address bits 11:5 (the routers move them where KVM's 32-bit IDs take them).
                if extendedDestinationIDs && entry.function == 0x4000_0001 { entry.eax |= 1 << 15 }
            }
            try vcpu.setCPUID(table)
            return vcpu
        }

        let log = configuration.log
        portBus = Bus(spaceName: "port", log: log)
        mmioBus = Bus(spaceName: "MMIO", log: log)
        // Messages a guest can cause over and over (a BAR moved onto another, a vector that
        // cannot get a route) are rate-limited like unclaimed accesses.
        let guestTriggered = RateLimitedLog(limit: 16, sink: log)
        let limitedLog: @Sendable (String) -> Void = { guestTriggered($0) }
        let standard = isPC ? configuration.standardDevices.intersection(PCMachine.standardDevices) : configuration.standardDevices
        console = ConsoleDevice(echo: configuration.echoConsole)
        if standard.contains(.console) {
            try portBus.register(console, name: "console (8250)", base: UInt64(layout.consolePort), size: MachineDeviceTree.consolePortCount)
        }
        if standard.contains(.probe) {
            try portBus.register(portProbe, name: "probe ports", base: UInt64(layout.probePort), size: MachineDeviceTree.probePortCount)
            try mmioBus.register(mmioProbe, name: "probe MMIO", base: layout.probeMMIOBase, size: layout.probeMMIOSize)
        }
        pci = try PCIRoot(portBus: portBus, mmioBus: mmioBus, mmioWindow: (layout.mmioWindowBase, layout.mmioWindowSize),
                      ioWindow: (layout.ioWindowBase, layout.ioWindowSize), log: limitedLog)
        try portBus.register(PCIConfigPorts(root: pci), name: "PCI config ports", base: UInt64(layout.pciConfigAddressPort), size: 8)
        try mmioBus.register(PCIECAMWindow(root: pci), name: "PCI ECAM", base: layout.ecamBase, size: layout.ecamSize)
        let pinRoutes = split ? SplitIRQChip.placeholderRoutes : isPC ? GSIRoute.pcPinRoutes : GSIRoute.defaultPinRoutes
        if isPC { try vm.setGSIRouting(pinRoutes) }
        routes = GSIRouteTable(vm: vm, pinRoutes: pinRoutes, policy: configuration.routeCommits)
        var regions = [PhysicalMemory.Region(base: 0, memory: memory)]
        if let highRAM { regions.append(PhysicalMemory.Region(base: highRAM.guestBase, memory: highRAM.memory)) }
        let physical = PhysicalMemory(regions)
        let iommu = isPC ? configuration.pc.iommu.map { options in
            // Its own event interrupts are never remapped.
            IntelIOMMU(memory: physical, options: options) { address, data in
                do { try vm.signalMSI(address: MSIDelivery.kvmAddress(address, vm: vm), data: data) } catch {
                    limitedLog("VT-d event interrupt: \(error)")
                }
            }
        } : nil
        if let iommu { try mmioBus.register(iommu, name: "VT-d", base: IntelIOMMU.base, size: IntelIOMMU.size) }
        let delivery = MSIDelivery(vm: vm, iommu: iommu, log: limitedLog)
        splitIRQChip = split ? SplitIRQChip(delivery: delivery, routes: routes) : nil
        if let splitIRQChip { try mmioBus.register(splitIRQChip.ioapic, name: "IOAPIC", base: layout.ioapicBase, size: IOAPIC.size) }
        var devices: [MSIXTestDevice] = []
        for index in 0..<configuration.testDevices {
            let device = try MSIXTestDevice(name: "msix-test\(index)", vectors: configuration.msixVectors, vm: vm, routes: routes, log: limitedLog)
            guard let slot = pci.nextFreeDevice() else { throw VMMError.layout("PCI bus 0 is full") }
            try pci.attach(device.makeFunction(), at: PCIAddress(device: slot))
            devices.append(device)
        }
        testDevices = devices
        components = configuration.devices
        // The wake source is the pc devices' (set once they exist).
        let wakeSource = Locked<PCMachine.Parts?>(nil)
        suspension = !isPC ? nil : Suspension(
            vcpuCount: layout.vcpuCount,
            wakeTime: {
                guard let parts = wakeSource.withLock({ $0 }), parts.power.rtcWakeEnabled else { return nil }
                return parts.clock.nextAlarm()
            },
            woke: {
                guard let parts = wakeSource.withLock({ $0 }) else { return }
                parts.clock.alarmFired()
                parts.power.wokeByRTC()
            })
        let completion = self.completion
        let exit = ExitDevice { [weak self] value in
            if completion.finish(.guestExit(value: value)) { self?.kickAll() }
        }
        if standard.contains(.exitPort) {
            try portBus.register(exit, name: "exit port", base: UInt64(layout.exitPort), size: layout.exitPortSize)
        }
        let assembly = MachineAssembly(layout: layout, vm: vm, memory: memory, portBus: portBus, mmioBus: mmioBus, pci: pci,
                                       routes: routes, console: console, log: limitedLog)
        if isPC, let suspension {
            let interrupts = PCMachine.Interrupts(split: splitIRQChip, iommu: iommu, delivery: delivery, memory: physical)
            let parts = try PCMachine.attach(to: assembly, console: console, options: configuration.pc, interrupts: interrupts,
                                             powerOff: { [weak self] reason in
                                                 if completion.finish(.poweredOff(reason: reason)) { self?.kickAll() }
                                             },
                                             suspend: { [weak self] in
                                                 suspension.request()
                                                 self?.kickAll()
                                             })
            wakeSource.withLock { $0 = parts }
        }
        for component in components { try component.attach(to: assembly) }
    }

    /// Copies `image` into RAM; every vCPU will start at its entry point. Throws
    /// `VMMError.machinePhase` once the machine is running or has run.
    public func load(_ image: ELFImage, name: String = "guest") throws {
        let blob = try configuration.deviceTree()
        try load(ELF64BootProtocol().plan(image, name: name, layout: layout, deviceTree: blob))
        boot.withLock { $0.deviceTree = blob }
    }

    /// Loads `kernel` by a boot protocol: the one `protocolName` names, or (nil or "auto") the
    /// first that recognises the image, in the order Multiboot, PVH, Linux, ELF64 (`BootProtocols`).
    /// `modules` are handed to the kernel as its module list (initrds). Returns the protocol's
    /// name. Throws `BootError` for a protocol the image lacks, and the protocol's errors for a
    /// bad image; `VMMError.machinePhase` once the machine is running or has run.
    @discardableResult
    public func load(kernel: [UInt8], name: String, protocolName: String? = nil, modules: [BootModule] = []) throws -> String {
        let (plan, blob) = try configuration.bootPlan(kernel: kernel, name: name, protocolName: protocolName, modules: modules)
        try load(plan)
        boot.withLock { $0.deviceTree = blob }
        return plan.protocolName
    }

    /// Applies a boot plan (any protocol's): its writes go into RAM, and `run` starts each vCPU
    /// as it says. Throws for a plan that writes outside RAM or does not start one entry per
    /// vCPU, and `VMMError.machinePhase` once the machine is running or has run.
    public func load(_ plan: BootPlan) throws {
        try plan.validate(ramSize: layout.ramSize, vcpuCount: vcpus.count)
        try boot.withLock { (b: inout Boot) throws in
            guard Self.notStarted(b.phase) else { throw VMMError.machinePhase(action: "load a guest", phase: b.phase) }
            for write in plan.writes { try memory.apply(write) }
            b.starts = plan.vcpus
            b.phase = .loaded(protocol: plan.protocolName)
        }
    }

    /// The device tree blob describing this machine, as handed to the guest (`--dump-dtb` writes it).
    public var deviceTree: [UInt8] { boot.withLock { $0.deviceTree } }

    /// Builds the device tree from the layout, places it in the reserved area and passes its
    /// address in RDI. Called by `load`; call again after attaching devices that change it.
    public func installDeviceTree() throws {
        try setDeviceTree(try configuration.deviceTree())
    }

    /// Places a flattened device tree blob in the reserved area and passes its address in RDI.
    /// Throws `VMMError.machinePhase` once the machine is running or has run.
    public func setDeviceTree(_ blob: [UInt8]) throws {
        try boot.withLock { (b: inout Boot) throws in
            guard Self.notStarted(b.phase) else { throw VMMError.machinePhase(action: "change the device tree", phase: b.phase) }
            try place(blob, in: &b)
        }
    }

    private func place(_ blob: [UInt8], in b: inout Boot) throws {
        guard UInt64(blob.count) <= BootLayout.deviceTreeMaxSize else {
            throw VMMError.layout("device tree of \(blob.count) bytes exceeds the \(BootLayout.deviceTreeMaxSize)-byte area")
        }
        try memory.zero(at: BootLayout.deviceTreeAddress, count: BootLayout.deviceTreeMaxSize)
        try memory.write(blob, at: BootLayout.deviceTreeAddress)
        b.deviceTree = blob
    }

    private static func notStarted(_ phase: Phase) -> Bool {
        switch phase {
        case .built, .loaded: true
        case .running, .finished: false
        }
    }

    /// Runs every vCPU on its own thread from the loaded entry point until the guest writes the
    /// exit port, a vCPU fails, or `timeout` seconds pass.
    ///
    /// Returns `.hostError` without running when no guest is loaded (the machine stays usable:
    /// load one and run again) or when the machine is running or has run.
    public func run(timeout: Double) -> RunOutcome {
        let start: Result<[BootPlan.VCPUStart], VMMError> = boot.withLock { b in
            guard case .loaded = b.phase else { return .failure(.machinePhase(action: "run", phase: b.phase)) }
            b.phase = .running
            return .success(b.starts)
        }
        let starts: [BootPlan.VCPUStart]
        switch start {
        case let .success(values): starts = values
        case let .failure(error): return .hostError("\(error)")
        }
        defer { boot.withLock { $0.phase = .finished } }
        Self.installKickHandler
        let clock = ContinuousClock()
        let started = clock.now
        do {
            for (vcpu, start) in zip(vcpus, starts) {
                switch start {
                case let .longMode(rip, rsp, rdi, rsi): try LongMode.enter(vcpu, rip: rip, rsp: rsp, rdi: rdi, rsi: rsi)
                case let .protectedMode(eip, eax, ebx): try ProtectedMode.enter(vcpu, eip: eip, eax: eax, ebx: ebx)
                case let .linux64(rip, bootParams):
                    try LongMode.enter(vcpu, rip: rip, rsp: LinuxBootProtocol.stackTop, rdi: 0, rsi: bootParams, gdt: .linux)
                case .waitForSIPI: break  // as after reset: the in-kernel LAPIC waits for INIT/SIPI
                }
            }
            var eoi: (@Sendable (UInt8) -> Void)?
            if let chip = splitIRQChip { eoi = { vector in chip.endOfInterrupt(vector: vector) } }
            for (index, vcpu) in vcpus.enumerated() {
                let loop = VCPULoop(vcpu: vcpu, index: index, portBus: portBus, mmioBus: mmioBus, completion: completion,
                                    suspension: suspension, resume: { [weak self] vcpu in try self?.resumeFromSuspend(vcpu) },
                                    stopAll: { [weak self] in self?.kickAll() },
                                    report: { [weak self] io, mmio in self?.statisticsState.withLock { $0.ioExits += io; $0.mmioExits += mmio } },
                                    hook: configuration.exitHook, observer: configuration.exitObserver,
                                    ioapicEOI: eoi)
                let thread = try OSThread(name: "vcpu\(index)") { loop.run() }
                threads.withLock { $0.append(thread) }
            }
        } catch {
            completion.finish(.hostError("\(error)"))
        }
        let outcome = completion.wait(seconds: timeout) ?? {
            completion.finish(.timeout(seconds: timeout))
            return completion.result ?? .timeout(seconds: timeout)
        }()
        let elapsed = (clock.now - started).components
        statisticsState.withLock { $0.nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000 }
        kickAll()
        for thread in threads.withLock({ $0 }) { thread.join() }
        for device in testDevices { device.stop() }
        for component in components { component.stop() }
        routes.stop()
        console.flush()
        return outcome
    }

    /// Ends a running machine from outside: every vCPU leaves KVM_RUN and `run` returns
    /// `.stopped`. Does nothing unless the machine is running (a run that already ended keeps its
    /// outcome).
    public func stop() {
        guard phase == .running else { return }
        if completion.finish(.stopped) { kickAll() }
    }

    /// `run(timeout:)` for Swift concurrency: the run goes on a dedicated thread (the vCPU loops
    /// never block the cooperative pool) and the caller awaits its outcome. `stop()` ends it early.
    public func run(timeout: Double) async -> RunOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<RunOutcome, Never>) in
            do {
                let thread = try OSThread(name: "machine run") { continuation.resume(returning: self.run(timeout: timeout)) }
                thread.detach()
            } catch {
                continuation.resume(returning: .hostError("\(error)"))
            }
        }
    }

    /// Checks the vCPUs' APIC IDs against what KVM can create, and makes KVM take them: 32-bit
    /// IDs (KVM's x2APIC API) when one is 255 or above, and the first vCPU as the bootstrap
    /// processor when its ID is not 0. Before any vCPU exists.
    private static func prepareAPICIDs(_ ids: [UInt32], kvm: KVMSystem, vm: KVMVirtualMachine) throws {
        let limit = kvm.check(.maxVCPUID)
        if limit > 0, let id = ids.first(where: { Int($0) >= limit }) {
            throw VMMError.layout("APIC ID \(id) is beyond what this KVM gives a vCPU (at most \(limit - 1), \(KVMCapability.maxVCPUID))")
        }
        if let high = ids.first(where: { $0 >= 0xFF }) {  // 255 is xAPIC's broadcast
            let offered = KVMVirtualMachine.X2APICAPI(rawValue: UInt64(max(0, kvm.check(.x2apicAPI))))
            guard offered.contains(.use32BitIDs) else {
                throw VMMError.layout("APIC ID \(high) needs 32-bit APIC IDs, which this KVM lacks (\(KVMCapability.x2apicAPI))")
            }
            try vm.enableX2APICAPI(offered.intersection([.use32BitIDs, .disableBroadcastQuirk]))
        }
        if let first = ids.first, first != 0 { try vm.setBootCPUID(first) }
    }

    /// A vCPU's start after S3, as firmware gives it: the bootstrap vCPU in real mode at the FACS
    /// waking vector (none set: the machine powers off, as it cannot reboot), the others waiting
    /// for INIT/SIPI.
    private func resumeFromSuspend(_ vcpu: KVMVCPU) throws {
        guard vcpu === vcpus.first else {
            try vcpu.setMPState(.uninitialized)
            return
        }
        let facs = PCMachine.acpiTables(for: layout, options: configuration.pc).addresses["FACS"] ?? 0
        let vector = try memory.load(UInt32.self, at: facs + 12)
        guard vector != 0 else {
            if completion.finish(.poweredOff(reason: "resume from S3 with no FACS waking vector")) { kickAll() }
            return
        }
        try RealMode.enter(vcpu, cs: UInt16(truncatingIfNeeded: vector >> 4), ip: UInt16(vector & 0xF))
    }

    /// Makes every vCPU leave KVM_RUN: immediate-exit flag first (covers a vCPU about to enter),
    /// then a signal (covers one already inside).
    private func kickAll() {
        for vcpu in vcpus { vcpu.requestImmediateExit() }
        let signal = ckvm_kick_signal()
        threads.withLock { list in for thread in list { thread.kill(signal) } }
    }

    private static let installKickHandler: Void = {
        _ = ckvm_install_kick_handler(ckvm_kick_signal())
    }()
}
