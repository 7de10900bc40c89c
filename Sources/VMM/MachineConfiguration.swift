#if canImport(Glibc)
import Glibc
#endif
import Interrupts
import KVM
import Logging
import MachineDevices
import Memory
import Platform
import TextFormat

/// What to build: the layout (RAM, vCPUs, windows), where KVM is, and where output goes.
public struct MachineConfiguration: Sendable {
    /// RAM, vCPU count, PCI windows, ECAM and ports (default `MachineLayout()`: 64 MiB of RAM,
    /// one vCPU); `validate` checks it.
    public var layout = MachineLayout()
    /// The KVM device to open.
    public var kvmDevicePath = "/dev/kvm"
    /// Which machine: this project's own (`.vmm`) or a PC-compatible one (`.pc`).
    public var machine: MachineKind = .vmm
    /// What the pc machine has besides its fixed devices.
    public var pc = PCOptions()
    /// The VMM's own devices the machine gets (all by default); leave one out to put a device
    /// of your own at its place.
    public var standardDevices: StandardDevices = .all
    /// The caller's devices, attached in order after the machine's own.
    public var devices: [any MachineComponent] = []
    /// Memory beyond RAM at 0 (more RAM, ROM), each region its own KVM slot, from slot 1 on.
    public var extraMemory: [MemoryRegion] = []
    /// KVM records the RAM pages the guest writes (`Machine.ram.dirtyPages()`).
    public var logDirtyRAM = false
    /// MSI-X test devices to attach to PCI bus 0 (from 00:01.0 on).
    public var testDevices = 1
    /// MSI-X vectors of each test device (1…2048).
    public var msixVectors = 16
    /// When changes to the GSI routing table reach KVM: `.coalesced` (the default) batches
    /// changes across guest accesses (1 ms after the last, or at 256 pending), so unmasking n
    /// vectors one write at a time costs about n route entries sent, not n²/2; `.immediate`
    /// commits at the end of each guest access that changed a route. Until its commit, a vector
    /// the guest unmasked gets its events by KVM_SIGNAL_MSI (MSIVectorRouter, rule 4).
    public var routeCommits: RouteCommitPolicy = .coalesced
    /// Exits KVM leaves to the guest (HLT, PAUSE, MWAIT, C-states: the guest idles on the host
    /// CPU itself, as with QEMU's `-overcommit cpu-pm=on`); building fails if KVM cannot.
    public var guestOwnedExits: KVMVirtualMachine.GuestOwnedExits = []
    /// Echo the guest's console output to standard output.
    public var echoConsole = true
    /// What each vCPU's CPUID reports (default: KVM's values with the APIC IDs set).
    public var cpuid: any CPUIDPolicy = StandardCPUID()
    /// Offered every port and MMIO access on the vCPU's thread before the buses see it (nil: no
    /// hook). Return true to handle it yourself (for a read, set `event.value` to what the guest
    /// reads); false passes it on to the bus. Keep it short and allocation-free: it runs on the
    /// exit path.
    public var exitHook: (@Sendable (inout ExitEvent) -> Bool)?
    /// Called on the vCPU's thread after every port and MMIO access is dispatched, with a copy of
    /// what happened (nil: no call). Same rules as `exitHook`.
    public var exitObserver: (@Sendable (ExitEvent) -> Void)?
    /// Where the VMM's own diagnostics go (one line each); standard error by default.
    public var log: @Sendable (String) -> Void = MachineConfiguration.standardError

    /// The default configuration: this project's machine (`.vmm`) with the default layout, every
    /// standard device, one MSI-X test device of 16 vectors, the console echoed to standard output.
    public init() {}

    /// Sends the machine's diagnostics to `logger` (swift-log) instead of standard error: each
    /// is one warning, with the machine's metadata if the logger has any. Messages a guest can
    /// cause repeatedly are rate-limited before they get here.
    public mutating func log(to logger: Logger) {
        log = { message in logger.warning("\(message)") }
    }

    /// Writes `line` and a newline to standard error.
    public static let standardError: @Sendable (String) -> Void = { line in
        var text = "vmm: " + line + "\n"
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }

    /// The device tree a guest of this machine gets: a pure function of the configuration, so it
    /// needs no KVM (`vmm run --dump-dtb`). Throws for a configuration `validate` refuses.
    public func deviceTree() throws -> [UInt8] {
        try validate()
        return try makeDeviceTree(for: layout, reserved: [(0, BootLayout.guestLoadBase)])
    }

    /// The boot plan a machine of this configuration makes for `kernel` (what `Machine.load`
    /// applies), and the device tree it describes itself with: the protocol `protocolName` names
    /// (nil or "auto": the first that recognises the image), and on the pc machine the firmware
    /// tables PC kernels read (ACPI, MP) and the real-mode IVT. Throws, besides the protocol's
    /// errors, `BootPlanError` for a plan that writes outside RAM or starts too few vCPUs.
    public func bootPlan(kernel: [UInt8], name: String, protocolName: String? = nil,
                         modules: [BootModule] = []) throws -> (plan: BootPlan, deviceTree: [UInt8]) {
        let chosen = try BootProtocols.choose(for: kernel, name: name, requested: protocolName)
        let blob = try deviceTree()
        var request = BootRequest(image: kernel, name: name, layout: layout, modules: modules, deviceTree: blob)
        // A pc machine describes itself to PC kernels in ACPI tables (our ELF64 guests read the tree).
        let tables = machine == .pc && chosen.name != "elf64" ? PCMachine.acpiTables(for: layout, options: pc) : nil
        request.rsdpAddress = tables?.rsdpAddress
        var plan = try chosen.plan(request)
        if let tables { plan.writes = PCFirmware.writes() + plan.writes + [tables.write, PCMachine.mpTable(for: layout, options: pc).write] }
        try plan.validate(ramSize: layout.ramSize, vcpuCount: layout.vcpuCount)
        return (plan, blob)
    }

    /// Checks the layout's values; throws naming the first bad one.
    public func validate() throws(VMMError) {
        let ram = layout.ramSize
        guard ram >= BootLayout.minimumRAM else { throw .memoryTooSmall(requested: ram, minimum: BootLayout.minimumRAM) }
        guard ram % (2 << 20) == 0 else { throw .memoryNotAligned(ram) }
        let limit = layout.memoryRegions.dropFirst().map(\.base).min() ?? 0
        guard ram <= limit else { throw .memoryTooLarge(requested: ram, limit: limit) }
        guard layout.highRAMSize % (2 << 20) == 0 else { throw .memoryNotAligned(layout.highRAMSize) }
        try Self.checkDisjoint(layout.memoryRegions, space: "guest-physical", end: 1 << 32, endName: "must lie below 4 GiB")
        try Self.checkDisjoint(layout.portRegions, space: "port", end: 1 << 16, endName: "must lie below port 0x10000")
        try checkExtraMemory()
        guard (1...4).contains(layout.exitPortSize) else { throw .layout("the exit port's size \(layout.exitPortSize) is out of range 1…4 ports") }
        guard layout.ecamSize >= 0x10_0000, layout.ecamBase % 0x10_0000 == 0 else {
            throw .layout("ECAM at \(hex(layout.ecamBase)) must be 1 MiB aligned and at least 1 MiB")
        }
        if machine == .pc { try validatePC() }
        guard (0...31).contains(testDevices) else { throw .layout("test device count \(testDevices) is out of range 0…31") }
        guard (1...2048).contains(msixVectors) else { throw .layout("MSI-X vector count \(msixVectors) is out of range 1…2048") }
        guard (1...BootLayout.maxVCPUs).contains(layout.vcpuCount) else {
            throw .vcpuCount(requested: layout.vcpuCount, maximum: BootLayout.maxVCPUs)
        }
        if let ids = layout.apicIDs {
            guard ids.count == layout.vcpuCount else {
                throw .layout("\(ids.count) APIC IDs for \(layout.vcpuCount) vCPUs: give one per vCPU")
            }
            var seen = Set<UInt32>()
            for id in ids where !seen.insert(id).inserted { throw .layout("APIC ID \(id) is given to two vCPUs") }
        }
    }

    /// The pc options that only go together: the split irqchip has no PIT, and interrupt
    /// remapping needs the IOAPIC's messages, so the split irqchip.
    private func validatePC() throws(VMMError) {
        if pc.irqchip == .split && pc.pit {
            throw .layout("the PIT is KVM's and needs the in-kernel irqchip: with the split irqchip, turn the PIT off")
        }
        if let iommu = pc.iommu {
            if iommu.interruptRemapping && pc.irqchip != .split {
                throw .layout("VT-d interrupt remapping needs the split irqchip (the IOAPIC's messages must reach the remapper)")
            }
            if iommu.extendedInterruptMode && !iommu.interruptRemapping {
                throw .layout("VT-d x2APIC mode (eim) needs interrupt remapping")
            }
            // The unit remaps edu and the IOAPIC; these would reach RAM and KVM around it.
            if devices.contains(where: { $0 is VirtioComponent }) {
                throw .layout("VT-d does not cover virtio devices (their DMA and MSI-X would bypass it): leave out one or the other")
            }
            if iommu.interruptRemapping && testDevices > 0 {
                throw .layout("VT-d interrupt remapping does not cover the MSI-X test devices (their vectors would bypass it): "
                    + "use testDevices = 0 with it")
            }
        }
    }

    /// Each extra region: 4 KiB-aligned and sized, inside the 46-bit physical space, its ROM
    /// contents fitting, and clear of every other region and of the layout's.
    private func checkExtraMemory() throws(VMMError) {
        for region in extraMemory {
            let name = "memory \(region.name) at \(hex(region.base)) (\(hex(region.size)) bytes)"
            guard region.size > 0, region.size % 4096 == 0, region.base % 4096 == 0 else {
                throw .layout("\(name) must have a 4 KiB-aligned base and a positive size that is a multiple of 4 KiB")
            }
            if case let .rom(contents) = region.kind, UInt64(contents.count) > region.size {
                throw .layout("\(name) is smaller than its \(contents.count) bytes of contents")
            }
        }
        let all = layout.memoryRegions + [layout.highRAMRegion].compactMap { $0 } + extraMemory.map { MachineLayout.Region("memory \($0.name)", $0.base, $0.size) }
        try Self.checkDisjoint(all, space: "guest-physical", end: 1 << 46, endName: "must lie below 64 TiB (46 address bits)")
    }

    /// Refuses an empty region, one that runs past `end`, and any two that overlap.
    private static func checkDisjoint(_ regions: [MachineLayout.Region], space: String, end: UInt64, endName: String) throws(VMMError) {
        for (i, a) in regions.enumerated() {
            guard a.size > 0, a.size <= end, a.base <= end - a.size else {
                throw .layout("\(a.name) at \(hex(a.base)) (\(hex(a.size)) bytes) \(endName)")
            }
            for b in regions[..<i] where a.base < b.base + b.size && b.base < a.base + a.size {
                throw .layout("\(a.name) at \(hex(a.base)) (\(hex(a.size)) bytes) overlaps \(b.name) at \(hex(b.base)) (\(hex(b.size)) bytes)")
            }
        }
    }
}
