import Memory

/// What a loader decided, as plain data: the bytes to place in guest RAM and how each vCPU
/// starts. Loaders are pure (bytes in, plan out), so they are testable and fuzzable without KVM;
/// only the machine applies a plan.
public struct BootPlan: Sendable, Equatable {
    /// One change of guest RAM.
    public enum Write: Sendable, Equatable {
        /// Copies the bytes to guest-physical address `at`.
        case bytes(at: UInt64, [UInt8])
        /// Zeroes `count` bytes from guest-physical address `at`.
        case zero(at: UInt64, count: UInt64)

        /// Guest-physical address of the first byte the write changes.
        public var address: UInt64 {
            switch self {
            case let .bytes(address, _), let .zero(address, _): address
            }
        }

        /// Number of bytes the write changes.
        public var count: UInt64 {
            switch self {
            case let .bytes(_, bytes): UInt64(bytes.count)
            case let .zero(_, count): count
            }
        }
    }

    /// How one vCPU starts.
    public enum VCPUStart: Sendable, Equatable {
        /// In 64-bit long mode through the VMM's GDT and identity-mapped page tables (which the
        /// plan writes), at `rip` with these registers and RFLAGS = 0x2, runnable at once.
        case longMode(rip: UInt64, rsp: UInt64, rdi: UInt64, rsi: UInt64)
        /// At the Linux boot protocol's 64-bit entry: long mode through the GDT of
        /// `LongMode.GDTLayout.linux` (CS = __BOOT_CS 0x10, the data segments __BOOT_DS 0x18)
        /// and the identity-mapped page tables (which the plan writes), at `rip` with RSI =
        /// `bootParams` (the zero page), RSP = `LinuxBootProtocol.stackTop`, interrupts off.
        case linux64(rip: UInt64, bootParams: UInt64)
        /// In 32-bit protected mode without paging, as the Multiboot and PVH specifications
        /// describe: flat 32-bit code and data segments, a 32-bit TSS in TR, CR0 = PE|ET, CR4 = 0,
        /// EFER = 0, EFLAGS = 0x2 (IF, TF and VM clear), at `eip` with EAX and EBX as given and
        /// every other general register 0; runnable at once.
        case protectedMode(eip: UInt32, eax: UInt32, ebx: UInt32)
        /// Waits, as after reset, for INIT/SIPI from another vCPU (in-kernel LAPIC).
        case waitForSIPI
    }

    /// The protocol that made the plan, for messages ("elf64").
    public var protocolName: String
    /// Applied in order.
    public var writes: [Write]
    /// One start per vCPU, by index.
    public var vcpus: [VCPUStart]

    /// A plan from its parts.
    public init(protocolName: String, writes: [Write], vcpus: [VCPUStart]) {
        self.protocolName = protocolName
        self.writes = writes
        self.vcpus = vcpus
    }

    /// Refuses a plan that writes outside [0, ramSize) or starts a different number of vCPUs.
    public func validate(ramSize: UInt64, vcpuCount: Int) throws(BootPlanError) {
        for write in writes {
            let (end, overflow) = write.address.addingReportingOverflow(write.count)
            guard !overflow, end <= ramSize else {
                throw .writeOutsideRAM(protocolName: protocolName, address: write.address, count: write.count, ramSize: ramSize)
            }
        }
        guard vcpus.count == vcpuCount else { throw .vcpuCount(protocolName: protocolName, planned: vcpus.count, machine: vcpuCount) }
    }
}

/// A way to boot an image: recognise it, then plan the boot for a machine layout.
public protocol BootProtocol: Sendable {
    /// Its name on the command line and in messages ("elf64", "pvh", "multiboot").
    var name: String { get }
    /// Whether `image` carries this protocol (cheap: headers only).
    func recognizes(_ image: [UInt8]) -> Bool
    /// The plan for booting the request's image on its machine.
    func plan(_ request: BootRequest) throws -> BootPlan
}

/// What a boot protocol is asked to boot, and on what.
public struct BootRequest: Sendable {
    /// The kernel image's bytes.
    public var image: [UInt8]
    /// Its name (the path it came from), for messages and for Multiboot's command line, which
    /// starts with the kernel's name as boot loaders (and QEMU) give it.
    public var name: String
    /// The machine: RAM size, vCPU count and the command line (`layout.commandLine`).
    public var layout: MachineLayout
    /// Files handed to the kernel beside it (initrds, Multiboot modules), in order.
    public var modules: [BootModule]
    /// The device tree blob the machine describes itself with (the ELF64 protocol passes it).
    public var deviceTree: [UInt8]
    /// Guest-physical address of the machine's ACPI RSDP, if it has ACPI tables.
    public var rsdpAddress: UInt64?

    /// A request to boot `image` on `layout`; by default with no modules, an empty device tree
    /// and no ACPI tables.
    public init(image: [UInt8], name: String, layout: MachineLayout, modules: [BootModule] = [], deviceTree: [UInt8] = [],
                rsdpAddress: UInt64? = nil) {
        self.image = image
        self.name = name
        self.layout = layout
        self.modules = modules
        self.deviceTree = deviceTree
        self.rsdpAddress = rsdpAddress
    }
}

/// A file loaded beside the kernel: its name (which becomes its command line) and its bytes.
public struct BootModule: Sendable, Equatable {
    /// The module's name (usually its file's path), given to the kernel as the module's string;
    /// at most `PCBootData.maxCommandLine` bytes.
    public var name: String
    /// The module's contents, copied to a page-aligned address after the kernel, at or above 1 MiB.
    public var bytes: [UInt8]
    /// A module named `name` holding `bytes`.
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// Why a boot plan cannot be applied.
public enum BootPlanError: Error, Equatable, CustomStringConvertible {
    /// A write of `count` bytes at guest-physical `address` does not lie inside [0, `ramSize`)
    /// (or its end overflows 64 bits).
    case writeOutsideRAM(protocolName: String, address: UInt64, count: UInt64, ramSize: UInt64)
    /// The plan starts `planned` vCPUs, but the machine has `machine`.
    case vcpuCount(protocolName: String, planned: Int, machine: Int)

    public var description: String {
        switch self {
        case let .writeOutsideRAM(name, address, count, ramSize):
            "\(name) boot plan writes \(count) bytes at 0x\(String(address, radix: 16)), outside \(ramSize >> 20) MiB of RAM"
        case let .vcpuCount(name, planned, machine):
            "\(name) boot plan starts \(planned) vCPUs, but the machine has \(machine)"
        }
    }
}

extension GuestMemory {
    /// Applies one write of a boot plan (bounds-checked like every access).
    public func apply(_ write: BootPlan.Write) throws {
        switch write {
        case let .bytes(address, bytes): try self.write(bytes, at: address)
        case let .zero(address, count): try zero(at: address, count: count)
        }
    }
}
