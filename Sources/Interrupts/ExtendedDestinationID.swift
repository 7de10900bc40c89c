/// x86 MSI addresses with more than 8 destination bits, as KVM takes them.
///
/// An MSI address in the compatibility format is 0xFEEx_xxxx: destination APIC ID bits 7:0 in
/// address bits 19:12, bit 4 clear (set, it is an interrupt-remapping handle), and bits 11:5
/// reserved. A guest that finds KVM_FEATURE_MSI_EXT_DEST_ID in CPUID leaf 0x4000_0001 (as Linux
/// looks for it) writes destination bits 14:8 into those bits 11:5, reaching APIC IDs up to
/// 32767 without interrupt remapping. KVM with 32-bit APIC IDs (KVM_X2APIC_API_USE_32BIT_IDS)
/// takes destination bits 31:8 from the upper address word instead (its bits 31:8), so a message
/// goes to KVM with the extended bits moved there.
public enum ExtendedDestinationID {
    /// `address` as KVM with 32-bit APIC IDs must be given it: extended destination bits 11:5
    /// moved to bits 46:40 (the upper word's bits 14:8). An address with anything in its upper
    /// word, or in the remappable format (bit 4), or with no extended bits, keeps its bits,
    /// except the upper word's bits 7:0: reserved, and KVM refuses a message that sets them
    /// (one such route would make it refuse the whole routing table, every device's).
    @inline(__always)
    public static func kvmAddress(_ address: UInt64) -> UInt64 {
        let extended = (address >> 5) & 0x7F
        guard address >> 32 == 0, address & 0x10 == 0, extended != 0 else { return address & ~UInt64(0xFF_0000_0000) }
        return (address & ~UInt64(0xFE0)) | extended << 40
    }

    /// The destination APIC ID a guest's `address` names: bits 19:12, with extended bits 14:8
    /// from address bits 11:5 (when the upper word is 0 and the format is not remappable), or
    /// bits 31:8 from the upper word as KVM's 32-bit IDs read it.
    public static func destination(_ address: UInt64) -> UInt32 {
        let kvm = kvmAddress(address)
        return UInt32(truncatingIfNeeded: (kvm >> 12) & 0xFF) | UInt32(truncatingIfNeeded: kvm >> 32) & 0xFFFF_FF00
    }
}
