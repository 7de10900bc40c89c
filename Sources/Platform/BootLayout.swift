/// The VMM's own structures in the reserved first MiB of guest RAM.
///
/// ```
///  0x0000_1000  GDT (null, code64 = 0x08, data = 0x10)
///  0x0000_9000  PML4          ┐
///  0x0000_A000  PDPT          │ identity map of the low 4 GiB, 2 MiB pages
///  0x0000_B000  4 page dirs   ┘ (0xB000…0xEFFF)
///  0x0004_0000  vCPU stacks, 16 KiB each, growing down from stackTop(i)
///  0x0008_0000  device tree blob (up to deviceTreeMaxSize)
///  0x0010_0000  first byte a guest ELF may load to
/// ```
public enum BootLayout {
    /// Guest-physical address of the long-mode GDT: null, code64 (selector 0x08), data (0x10).
    public static let gdtAddress: UInt64 = 0x1000
    /// Guest-physical address of the PML4 page (CR3), whose first entry points at the PDPT.
    public static let pml4Address: UInt64 = 0x9000
    /// Guest-physical address of the PDPT page; its first four entries point at the page directories.
    public static let pdptAddress: UInt64 = 0xA000
    /// Guest-physical address of the four page directories (one 4 KiB page per GiB, 2 MiB pages).
    public static let pageDirectoriesAddress: UInt64 = 0xB000
    /// Guest-physical address of the bottom of vCPU 0's stack; vCPU i's stack follows at
    /// `stacksBase + i * stackSize`.
    public static let stacksBase: UInt64 = 0x4_0000
    /// Bytes of stack per vCPU (16 KiB).
    public static let stackSize: UInt64 = 0x4000
    /// The most vCPUs the stack area holds.
    public static let maxVCPUs = Int((deviceTreeAddress - stacksBase) / stackSize)
    /// Guest-physical address of the device tree blob, which the ELF64 protocol passes in RDI.
    public static let deviceTreeAddress: UInt64 = 0x8_0000
    /// The largest device tree blob, in bytes: the space from `deviceTreeAddress` up to
    /// `guestLoadBase` (512 KiB).
    public static let deviceTreeMaxSize: UInt64 = guestLoadBase - deviceTreeAddress
    /// Guest ELF segments must start at or above this address.
    public static let guestLoadBase: UInt64 = 0x10_0000
    /// The smallest RAM a machine can have: the reserved MiB plus 1 MiB for a guest.
    public static let minimumRAM: UInt64 = 2 << 20

    /// The initial stack pointer of vCPU `index` (16-byte aligned, top of its stack).
    public static func stackTop(vcpu index: Int) -> UInt64 {
        stacksBase + UInt64(index + 1) * stackSize
    }
}
