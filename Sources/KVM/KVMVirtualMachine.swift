import CKVM
import TextFormat

/// The VM scope: memory slots, the in-kernel irqchip and vCPU creation.
/// Interrupt plumbing (GSI routing, irqfd, ioeventfd, MSI) is in `KVMVirtualMachine+Interrupts.swift`.
public final class KVMVirtualMachine: Sendable {
    public let system: KVMSystem
    public let fd: FileDescriptor
    /// Forces failures of this VM's interrupt ioctls, for tests of error paths.
    public let faults = KVMFaultInjection()

    init(system: KVMSystem, fd: FileDescriptor) {
        self.system = system
        self.fd = fd
    }

    /// Maps `size` bytes of host memory at `host` into the guest at `guestAddress` as `slot`
    /// (KVM_SET_USER_MEMORY_REGION). The caller keeps the host memory alive as long as the VM.
    public func setUserMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer) throws {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: 0, guest_phys_addr: guestAddress, memory_size: size,
            userspace_addr: UInt64(UInt(bitPattern: host)))
        _ = try withUnsafeMutablePointer(to: &region) {
            try checkedIoctl(fd.rawValue, CKVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION",
                             "for slot \(slot) (\(byteCount(size)) at \(hex(guestAddress)))", $0)
        }
    }

    /// Places the three-page TSS region Intel VMX needs (KVM_SET_TSS_ADDR).
    public func setTSSAddress(_ address: UInt64) throws {
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", "at \(hex(address))", value: UInt(address))
    }

    /// Creates the in-kernel PIC, IOAPIC and per-vCPU LAPICs (KVM_CREATE_IRQCHIP). Must precede vCPU creation.
    /// It also installs the default GSI routes 0–23 to the PIC/IOAPIC pins.
    public func createIRQChip() throws {
        _ = try checkedIoctl(fd.rawValue, CKVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP", value: 0)
    }

    /// Creates vCPU `id` (KVM_CREATE_VCPU) and maps its `kvm_run` area.
    public func createVCPU(id: Int) throws -> KVMVCPU {
        let raw = try checkedIoctl(fd.rawValue, CKVM_CREATE_VCPU, "KVM_CREATE_VCPU", "for vCPU \(id)", value: UInt(id))
        let vcpuFD = FileDescriptor(owning: raw)
        return try KVMVCPU(id: id, fd: vcpuFD, runSize: system.vcpuMmapSize())
    }
}
