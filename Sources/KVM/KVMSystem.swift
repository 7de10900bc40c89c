import CKVM

/// The system scope: the `/dev/kvm` fd. Creates VMs and answers capability queries.
public final class KVMSystem: Sendable {
    /// The open `/dev/kvm` descriptor, closed when the last reference goes away.
    public let fd: OwnedFileDescriptor

    /// Opens the KVM device and checks the API version (KVM_GET_API_VERSION must be 12).
    public init(path: String = "/dev/kvm") throws {
        let raw = ckvm_open(path)
        if raw < 0 { throw KVMError.open(path: path, errno: -raw) }
        fd = OwnedFileDescriptor(owning: raw)
        let version = ckvm_ioctl_value(raw, CKVM_GET_API_VERSION, 0)
        if version < 0 { throw KVMError.notKVMDevice(path: path, errno: -version) }
        if version != KVM_API_VERSION { throw KVMError.unsupportedAPIVersion(version) }
    }

    /// The value KVM_CHECK_EXTENSION reports for `capability` (0 = absent).
    public func check(_ capability: KVMCapability) -> Int {
        Int(max(0, ckvm_ioctl_value(fd.rawValue, CKVM_CHECK_EXTENSION, UInt(capability.rawValue))))
    }

    /// Size of the `kvm_run` area each vCPU fd maps (KVM_GET_VCPU_MMAP_SIZE).
    public func vcpuMmapSize() throws -> Int {
        Int(try checkedIoctl(fd.rawValue, CKVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE", value: 0))
    }

    /// The CPUID entries KVM supports on this host (KVM_GET_SUPPORTED_CPUID).
    public func supportedCPUID() throws -> CPUIDTable {
        var capacity: UInt32 = 128
        while true {
            var table = CPUIDTable(capacity: capacity)
            let r = table.withHeader { ckvm_ioctl(fd.rawValue, CKVM_GET_SUPPORTED_CPUID, $0) }
            if r == -7 /* E2BIG */ && capacity < 4096 { capacity *= 2; continue }
            if r < 0 { throw KVMError.ioctl(name: "KVM_GET_SUPPORTED_CPUID", argument: "with \(capacity) entries", errno: -r) }
            return table
        }
    }

    /// Creates a VM (KVM_CREATE_VM, machine type 0).
    public func createVirtualMachine() throws -> KVMVirtualMachine {
        let raw = try checkedIoctl(fd.rawValue, CKVM_CREATE_VM, "KVM_CREATE_VM", value: 0)
        return KVMVirtualMachine(system: self, fd: OwnedFileDescriptor(owning: raw))
    }
}

/// Capabilities this VMM asks about (KVM_CAP_*).
public struct KVMCapability: RawRepresentable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    /// The capability's constant name (`KVM_CAP_IRQFD`), or `KVM_CAP N` for one made from a raw value.
    public let name: String
    public init?(rawValue: Int32) { self.rawValue = rawValue; name = "KVM_CAP \(rawValue)" }
    init(_ rawValue: Int32, _ name: String) { self.rawValue = rawValue; self.name = name }
    public var description: String { name }

    /// The in-kernel PIC, IOAPIC and LAPICs (``KVMVirtualMachine/createIRQChip()``); non-zero when present.
    public static let irqchip = KVMCapability(KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP")
    /// irqfds: an eventfd write injects a GSI (`attachIRQFD(_:gsi:resample:)`); non-zero when present.
    public static let irqfd = KVMCapability(KVM_CAP_IRQFD, "KVM_CAP_IRQFD")
    /// `KVM_SIGNAL_MSI` (``KVMVirtualMachine/signalMSI(address:data:)``); non-zero when present.
    public static let signalMSI = KVMCapability(KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI")
    /// Its value is the number of entries a GSI routing table may hold (pin routes included).
    public static let irqRouting = KVMCapability(KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING")
    /// ioeventfds: a guest write signals an eventfd with no exit; non-zero when present.
    public static let ioeventfd = KVMCapability(KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD")
    /// The `immediate_exit` flag of `kvm_run`, which makes KVM_RUN return at once; non-zero when present.
    public static let immediateExit = KVMCapability(KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT")
    /// Read-only memory slots (``KVMVirtualMachine/MemoryFlags/readOnly``); non-zero when present.
    public static let readOnlyMemory = KVMCapability(KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM")
    /// Its value is the set of `KVMVirtualMachine.GuestOwnedExits` this KVM can disable.
    public static let disableExits = KVMCapability(KVM_CAP_X86_DISABLE_EXITS, "KVM_CAP_X86_DISABLE_EXITS")
    /// Its value is one more than the largest vCPU ID (= initial APIC ID) KVM_CREATE_VCPU accepts.
    public static let maxVCPUID = KVMCapability(KVM_CAP_MAX_VCPU_ID, "KVM_CAP_MAX_VCPU_ID")
    /// Its value is the set of x2APIC API features (`KVMVirtualMachine.X2APICAPI`) KVM offers.
    public static let x2apicAPI = KVMCapability(KVM_CAP_X2APIC_API, "KVM_CAP_X2APIC_API")
}
