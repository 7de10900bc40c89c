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
///  tssBase     │ KVM TSS + identity map   │  0xFFFB_D000, 4 pages (Intel VMX needs them)
///  ioapicBase  │ IOAPIC                   │  0xFEC0_0000 (fixed: KVM's in-kernel IOAPIC)
///  lapicBase   │ LAPIC                    │  0xFEE0_0000 (fixed: the architectural default)
///  0x1_0000_0000 ┌──────────────────────────┐  (identity mapping ends)
///              │ high RAM (highRAMSize)   │  optional: RAM that does not fit below the window
///              └──────────────────────────┘
/// ```
/// What is a `var` is programmed into the machine as given; what KVM fixes is a `let`.
/// `memoryRegions` and `portRegions` list every range, so one check can refuse any overlap.
public struct MachineLayout: Sendable, Equatable {
    /// Bytes of guest RAM, starting at guest-physical 0.
    public var ramSize: UInt64 = 64 << 20
    /// Bytes of guest RAM above 4 GiB, at `highRAMBase` (0: none). A machine with more RAM
    /// than fits below the PCI window has the rest here, as PCs do.
    public var highRAMSize: UInt64 = 0
    /// Where high RAM starts: the first byte above the 32-bit address space.
    public static let highRAMBase: UInt64 = 1 << 32
    /// All the guest's RAM, below and above 4 GiB (saturating: a layout that validates never overflows).
    public var totalRAM: UInt64 {
        let (sum, overflow) = ramSize.addingReportingOverflow(highRAMSize)
        return overflow ? .max : sum
    }
    /// Number of vCPUs; vCPU i has APIC ID i unless `apicIDs` says otherwise.
    public var vcpuCount: Int = 1
    /// The APIC ID of each vCPU, in vCPU order (nil: vCPU i has APIC ID i). One per vCPU, all
    /// different; IDs of 255 and above need x2APIC (the guest enables it; the machine turns on
    /// KVM's 32-bit APIC IDs). The first is the bootstrap processor.
    public var apicIDs: [UInt32]? = nil

    /// vCPU `index`'s APIC ID.
    public func apicID(ofVCPU index: Int) -> UInt32 {
        if let apicIDs, apicIDs.indices.contains(index) { return apicIDs[index] }
        return UInt32(truncatingIfNeeded: index)
    }

    /// Every vCPU's APIC ID, in vCPU order.
    public var vcpuAPICIDs: [UInt32] { (0..<max(0, vcpuCount)).map { apicID(ofVCPU: $0) } }
    /// Guest-physical base of the PCI 32-bit memory window from which BARs are assigned.
    public var mmioWindowBase: UInt64 = 0xC000_0000
    /// Bytes of the PCI 32-bit memory window (default 512 MiB); it must end at or below 4 GiB.
    public var mmioWindowSize: UInt64 = 0x2000_0000
    /// Base of the ECAM window for bus 0 (1 MiB: 32 devices × 8 functions × 4 KiB).
    public var ecamBase: UInt64 = 0xE000_0000
    /// Bytes of the ECAM window: 1 MiB per bus, 1 to 256 buses (default 1 MiB, bus 0 only).
    public var ecamSize: UInt64 = 0x10_0000
    /// First port of the PCI I/O port window described to guests for I/O BARs.
    public var ioWindowBase: UInt64 = 0xC000
    /// Number of ports in the PCI I/O window (default 0x4000: ports 0xC000–0xFFFF).
    public var ioWindowSize: UInt64 = 0x4000
    /// Legacy PCI configuration mechanism #1: the address port; the data ports follow at +4…+7.
    public var pciConfigAddressPort: UInt16 = 0xCF8
    /// The in-kernel interrupt controllers' MMIO bases: KVM's IOAPIC sits at 0xFEC0_0000 and
    /// cannot be moved; the LAPIC starts at its architectural base (a guest may move it through
    /// IA32_APIC_BASE, which is the guest's business, not the layout's).
    public let ioapicBase: UInt64 = 0xFEC0_0000
    /// Guest-physical base of the local APIC's registers, the architectural default.
    public let lapicBase: UInt64 = 0xFEE0_0000
    /// Each controller's register window.
    public static let interruptControllerSize: UInt64 = 0x1000
    /// The three-page TSS area Intel VMX needs (KVM_SET_TSS_ADDR) and, right after it, the page
    /// KVM uses for its identity-mapped page table by default: guest-physical space no RAM, BAR or
    /// device may use.
    public let tssBase: UInt64 = 0xFFFB_D000
    /// Bytes reserved for KVM at `tssBase` (four pages): the three TSS pages and the identity-map page.
    public static let tssSize: UInt64 = 0x4000
    /// The 8250 console's base port.
    public var consolePort: UInt16 = 0x3F8
    /// The exit port: a write of V ends the run with V (0 is a pass).
    public var exitPort: UInt16 = 0xF4
    /// Ports the exit device claims from `exitPort` on, 1…4 (default `MachineDeviceTree.exitPortCount`;
    /// QEMU's `isa-debug-exit` takes `iosize=`).
    public var exitPortSize: UInt64 = MachineDeviceTree.exitPortCount
    /// The probe device: a port block and an MMIO page that echo the complement of the last write.
    /// This is the first port of its block of `MachineDeviceTree.probePortCount` ports.
    public var probePort: UInt16 = 0xE0
    /// Guest-physical base of the probe device's MMIO page.
    public var probeMMIOBase: UInt64 = 0xF000_0000
    /// Bytes of the probe device's MMIO range (default one 4 KiB page).
    public var probeMMIOSize: UInt64 = 0x1000
    /// The guest command line, given to the guest as `/chosen/bootargs`.
    public var commandLine: String = ""

    /// The default layout: 64 MiB of RAM, one vCPU, no high RAM, each property's default.
    public init() {}

    /// A named range of guest-physical or port space.
    public struct Region: Sendable, Equatable {
        /// What the range is, for messages ("RAM", "ECAM", "console", ...).
        public let name: String
        /// The first guest-physical address or port of the range.
        public let base: UInt64
        /// Bytes (or ports) in the range.
        public let size: UInt64
        /// A range named `name` of `size` bytes or ports from `base`.
        public init(_ name: String, _ base: UInt64, _ size: UInt64) {
            self.name = name
            self.base = base
            self.size = size
        }
    }

    /// Every guest-physical range the machine uses below 4 GiB, RAM first.
    public var memoryRegions: [Region] {
        [
            Region("RAM", 0, ramSize), Region("PCI MMIO window", mmioWindowBase, mmioWindowSize),
            Region("ECAM", ecamBase, ecamSize), Region("probe MMIO", probeMMIOBase, probeMMIOSize),
            Region("KVM TSS", tssBase, Self.tssSize),
            Region("IOAPIC", ioapicBase, Self.interruptControllerSize), Region("LAPIC", lapicBase, Self.interruptControllerSize),
        ]
    }

    /// High RAM as a region (nil when there is none); it lies above the 32-bit space `memoryRegions` covers.
    public var highRAMRegion: Region? {
        highRAMSize > 0 ? Region("high RAM", Self.highRAMBase, highRAMSize) : nil
    }

    /// Every port range the machine uses (sizes as the device tree describes them).
    public var portRegions: [Region] {
        [
            Region("console", UInt64(consolePort), MachineDeviceTree.consolePortCount),
            Region("exit port", UInt64(exitPort), exitPortSize),
            Region("probe ports", UInt64(probePort), MachineDeviceTree.probePortCount),
            Region("PCI config ports", UInt64(pciConfigAddressPort), 8),
            Region("PCI I/O window", ioWindowBase, ioWindowSize),
        ]
    }
}
