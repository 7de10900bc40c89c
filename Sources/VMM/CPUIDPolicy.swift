import KVM

/// What each vCPU's CPUID reports: a machine starts from what KVM supports
/// (KVM_GET_SUPPORTED_CPUID) and lets its policy change each entry before KVM_SET_CPUID2.
///
/// Compose policies by calling another inside yours, e.g. `StandardCPUID().adjust(&entry, vcpu:apicID:)`
/// and then hiding a feature bit. (On this project's software-backed KVM, code at CPL 0 reads the
/// host's feature bits whatever the table says; leaf 1 EBX and the 0x4000_000x leaves do come
/// from it. See ../shared/docs/host-facts.md.)
public protocol CPUIDPolicy: Sendable {
    /// Changes `entry` for vCPU `vcpu` (0-based), whose APIC ID is `apicID`; leaves it as it is
    /// to keep KVM's value.
    func adjust(_ entry: inout CPUIDEntry, vcpu: Int, apicID: UInt32)
}

/// The default policy: KVM's supported values, with the vCPU's APIC ID in leaf 1 EBX[31:24]
/// (its low 8 bits: the initial xAPIC ID) and in the x2APIC ID of leaves 0xB and 0x1F (EDX).
public struct StandardCPUID: CPUIDPolicy {
    /// The default policy (it has no settings).
    public init() {}

    public func adjust(_ entry: inout CPUIDEntry, vcpu: Int, apicID id: UInt32) {
        switch entry.function {
        case 1: entry.ebx = (entry.ebx & 0x00FF_FFFF) | (id << 24)
        case 0xB, 0x1F: entry.edx = id
        default: break
        }
    }
}
