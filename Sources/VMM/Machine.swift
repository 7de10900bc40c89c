#if canImport(Glibc)
import Glibc
#endif
import CKVM
import Devices
import Interrupts
import KVM
import Memory
import PCI
import Platform
import Synchronization

/// A machine built from a `MachineConfiguration`: KVM VM with in-kernel irqchip, guest RAM, vCPUs,
/// the port and MMIO buses with the console, exit and probe devices. Load a guest, then `run`.
///
/// A machine runs once: after `run` returns, build a new one for the next run.
public final class Machine: @unchecked Sendable {
    public let configuration: MachineConfiguration
    public var layout: MachineLayout { configuration.layout }
    public let kvm: KVMSystem
    public let vm: KVMVirtualMachine
    public let memory: GuestMemory
    public let vcpus: [KVMVCPU]
    public let portBus: Bus
    public let mmioBus: Bus
    public let console: ConsoleDevice
    /// The probe device at the probe port block and at the probe MMIO page.
    public let portProbe = ProbeDevice()
    public let mmioProbe = ProbeDevice()
    /// PCI bus 0, reached through ports 0xCF8/0xCFC and the ECAM window.
    public let pci: PCIRoot
    /// The VM's GSI routing table, shared by every device's MSI vectors.
    public let routes: GSIRouteTable
    /// The MSI-X test devices, in slot order (00:01.0, 00:02.0, …).
    public let testDevices: [MSIXTestDevice]

    let completion = Completion()
    private var entry: UInt64?
    private var deviceTreeAddress: UInt64 = 0
    /// vCPU threads; a vCPU may kick the others while later ones are still being started.
    private let threads = Mutex<[OSThread]>([])
    private var hasRun = false
    private let statisticsState = Mutex(RunStatistics())

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
        let memory = try GuestMemory(size: layout.ramSize)
        self.kvm = kvm
        self.vm = vm
        self.memory = memory
        try vm.setUserMemoryRegion(slot: 0, guestAddress: 0, size: layout.ramSize, host: memory.hostBase)
        try vm.setTSSAddress(0xFFFB_D000)
        try vm.createIRQChip()
        try LongMode.writeTables(into: memory)

        let cpuid = try kvm.supportedCPUID()
        vcpus = try (0..<layout.vcpuCount).map { index in
            let vcpu = try vm.createVCPU(id: index)
            var table = cpuid
            table.update { entry in Self.setAPICID(&entry, UInt32(index)) }
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
        console = ConsoleDevice(echo: configuration.echoConsole)
        try portBus.register(console, name: "console (8250)", base: UInt64(layout.consolePort), size: MachineDeviceTree.consolePortCount)
        try portBus.register(portProbe, name: "probe ports", base: UInt64(layout.probePort), size: MachineDeviceTree.probePortCount)
        try mmioBus.register(mmioProbe, name: "probe MMIO", base: layout.probeMMIOBase, size: layout.probeMMIOSize)
        pci = PCIRoot(portBus: portBus, mmioBus: mmioBus, mmioWindow: (layout.mmioWindowBase, layout.mmioWindowSize),
                      ioWindow: (layout.ioWindowBase, layout.ioWindowSize), log: limitedLog)
        try portBus.register(PCIConfigPorts(root: pci), name: "PCI config ports", base: UInt64(layout.pciConfigAddressPort), size: 8)
        try mmioBus.register(PCIECAMWindow(root: pci), name: "PCI ECAM", base: layout.ecamBase, size: layout.ecamSize)
        routes = GSIRouteTable(vm: vm)
        var devices: [MSIXTestDevice] = []
        for index in 0..<configuration.testDevices {
            let device = try MSIXTestDevice(name: "msix-test\(index)", vectors: configuration.msixVectors, vm: vm, routes: routes, log: limitedLog)
            guard let slot = pci.nextFreeDevice() else { throw VMMError.layout("PCI bus 0 is full") }
            try pci.attach(device.makeFunction(), at: PCIAddress(device: slot))
            devices.append(device)
        }
        testDevices = devices
        let exit = ExitDevice(completion: completion) { [weak self] in self?.kickAll() }
        try portBus.register(exit, name: "exit port", base: UInt64(layout.exitPort), size: MachineDeviceTree.exitPortCount)
    }

    /// Copies `image` into RAM; every vCPU will start at its entry point.
    public func load(_ image: ELFImage, name: String = "guest") throws {
        try image.load(into: memory, name: name)
        entry = image.entry
        try installDeviceTree()
    }

    /// The device tree blob describing this machine, as handed to the guest (`--dump-dtb` writes it).
    public private(set) var deviceTree: [UInt8] = []

    /// Builds the device tree from the layout, places it in the reserved area and passes its
    /// address in RDI. Called by `load`; call again after attaching devices that change it.
    public func installDeviceTree() throws {
        let blob = try makeDeviceTree(for: layout, reserved: [(0, BootLayout.guestLoadBase)])
        try setDeviceTree(blob)
    }

    /// Places a flattened device tree blob in the reserved area and passes its address in RDI.
    public func setDeviceTree(_ blob: [UInt8]) throws {
        guard UInt64(blob.count) <= BootLayout.deviceTreeMaxSize else {
            throw VMMError.layout("device tree of \(blob.count) bytes exceeds the \(BootLayout.deviceTreeMaxSize)-byte area")
        }
        try memory.zero(at: BootLayout.deviceTreeAddress, count: BootLayout.deviceTreeMaxSize)
        try memory.write(blob, at: BootLayout.deviceTreeAddress)
        deviceTreeAddress = BootLayout.deviceTreeAddress
        deviceTree = blob
    }

    /// Runs every vCPU on its own thread from the loaded entry point until the guest writes the
    /// exit port, a vCPU fails, or `timeout` seconds pass.
    public func run(timeout: Double) -> RunOutcome {
        guard !hasRun else { return .hostError("this machine has already run; build a new one") }
        hasRun = true
        guard let entry else { return .hostError("no guest loaded") }
        Self.installKickHandler
        let clock = ContinuousClock()
        let start = clock.now
        do {
            for vcpu in vcpus { try LongMode.enter(vcpu, entry: entry, deviceTree: deviceTreeAddress) }
            for vcpu in vcpus {
                let loop = VCPULoop(vcpu: vcpu, portBus: portBus, mmioBus: mmioBus, completion: completion,
                                    stopAll: { [weak self] in self?.kickAll() },
                                    report: { [weak self] io, mmio in self?.statisticsState.withLock { $0.ioExits += io; $0.mmioExits += mmio } })
                let thread = try OSThread(name: "vcpu\(vcpu.id)") { loop.run() }
                threads.withLock { $0.append(thread) }
            }
        } catch {
            completion.finish(.hostError("\(error)"))
        }
        let outcome = completion.wait(seconds: timeout) ?? {
            completion.finish(.timeout(seconds: timeout))
            return completion.result ?? .timeout(seconds: timeout)
        }()
        let elapsed = (clock.now - start).components
        statisticsState.withLock { $0.nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000 }
        kickAll()
        for thread in threads.withLock({ $0 }) { thread.join() }
        for device in testDevices { device.stop() }
        console.flush()
        return outcome
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

    /// Puts `id` into the APIC ID fields of CPUID leaves 1 (EBX[31:24]) and 0xB/0x1F (EDX).
    private static func setAPICID(_ entry: inout kvm_cpuid_entry2, _ id: UInt32) {
        switch entry.function {
        case 1: entry.ebx = (entry.ebx & 0x00FF_FFFF) | (id << 24)
        case 0xB, 0x1F: entry.edx = id
        default: break
        }
    }
}
