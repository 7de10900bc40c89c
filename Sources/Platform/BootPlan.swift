import Memory

/// What a loader decided, as plain data: the bytes to place in guest RAM and how each vCPU
/// starts. Loaders are pure (bytes in, plan out), so they are testable and fuzzable without KVM;
/// only the machine applies a plan.
public struct BootPlan: Sendable, Equatable {
    /// One change of guest RAM.
    public enum Write: Sendable, Equatable {
        case bytes(at: UInt64, [UInt8])
        case zero(at: UInt64, count: UInt64)

        public var address: UInt64 {
            switch self {
            case let .bytes(address, _), let .zero(address, _): address
            }
        }

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
        /// Waits, as after reset, for INIT/SIPI from another vCPU (in-kernel LAPIC).
        case waitForSIPI
    }

    /// The protocol that made the plan, for messages ("elf64").
    public var protocolName: String
    /// Applied in order.
    public var writes: [Write]
    /// One start per vCPU, by index.
    public var vcpus: [VCPUStart]

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
    /// Its name on the command line and in messages ("elf64", later "pvh", "multiboot", "linux").
    var name: String { get }
    /// Whether `image` carries this protocol (cheap: headers only).
    func recognizes(_ image: [UInt8]) -> Bool
    /// The plan for booting `image` on a machine of `layout` that gives the guest `deviceTree`.
    func plan(image: [UInt8], name: String, layout: MachineLayout, deviceTree: [UInt8]) throws -> BootPlan
}

/// Why a boot plan cannot be applied.
public enum BootPlanError: Error, Equatable, CustomStringConvertible {
    case writeOutsideRAM(protocolName: String, address: UInt64, count: UInt64, ramSize: UInt64)
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
