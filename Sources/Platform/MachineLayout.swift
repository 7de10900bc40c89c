/// Where everything of a machine sits in guest-physical and port space.
///
/// One value of this type is the single source of truth: the machine is built from it and the
/// device tree describes it, so the two can never disagree.
///
/// ```
///  0x0000_0000 ┌──────────────────────────┐
///              │ VMM-reserved (< 1 MiB):  │  GDT, page tables, vCPU stacks, device tree
///  0x0010_0000 ├──────────────────────────┤
///              │ guest ELF and free RAM   │
///     ramSize  ├──────────────────────────┤
///              ⋮                          ⋮
///  mmioWindow  │ PCI 32-bit BAR window    │  default 0xC000_0000, 512 MiB
///  ecamBase    │ PCI ECAM, bus 0          │  default 0xE000_0000, 1 MiB
///  probeMMIO   │ probe device registers   │  0xF000_0000, 4 KiB
///  ioapicBase  │ IOAPIC                   │  0xFEC0_0000
///  lapicBase   │ LAPIC                    │  0xFEE0_0000
///  0x1_0000_0000 (identity mapping ends)
/// ```
public struct MachineLayout: Sendable, Equatable {
    /// Bytes of guest RAM, starting at guest-physical 0.
    public var ramSize: UInt64 = 64 << 20
    /// Number of vCPUs; vCPU i has APIC ID i.
    public var vcpuCount: Int = 1
    /// Base and size of the PCI 32-bit memory window from which BARs are assigned.
    public var mmioWindowBase: UInt64 = 0xC000_0000
    public var mmioWindowSize: UInt64 = 0x2000_0000
    /// Base of the ECAM window for bus 0 (1 MiB: 32 devices × 8 functions × 4 KiB).
    public var ecamBase: UInt64 = 0xE000_0000
    public var ecamSize: UInt64 = 0x10_0000
    /// PCI I/O port window described to guests for I/O BARs.
    public var ioWindowBase: UInt64 = 0xC000
    public var ioWindowSize: UInt64 = 0x4000
    /// Legacy PCI configuration mechanism #1: the address port; the data ports follow at +4…+7.
    public var pciConfigAddressPort: UInt16 = 0xCF8
    /// The in-kernel interrupt controllers' MMIO bases (fixed by KVM's irqchip).
    public var ioapicBase: UInt64 = 0xFEC0_0000
    public var lapicBase: UInt64 = 0xFEE0_0000
    /// The 8250 console's base port and the exit port.
    public var consolePort: UInt16 = 0x3F8
    public var exitPort: UInt16 = 0xF4
    /// The probe device: a port block and an MMIO page that echo the complement of the last write.
    public var probePort: UInt16 = 0xE0
    public var probeMMIOBase: UInt64 = 0xF000_0000
    public var probeMMIOSize: UInt64 = 0x1000
    /// The guest command line, given to the guest as `/chosen/bootargs`.
    public var commandLine: String = ""

    public init() {}
}
