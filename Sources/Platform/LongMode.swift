import KVM
import Memory

/// The 64-bit long-mode entry state of the boot protocol: GDT, identity-mapped page tables and the
/// register values every vCPU starts with.
public enum LongMode {
    // Control-register bits.
    static let cr0PE: UInt64 = 1 << 0, cr0MP: UInt64 = 1 << 1, cr0ET: UInt64 = 1 << 4
    static let cr0NE: UInt64 = 1 << 5, cr0WP: UInt64 = 1 << 16, cr0PG: UInt64 = 1 << 31
    static let cr4PAE: UInt64 = 1 << 5
    static let eferLME: UInt64 = 1 << 8, eferLMA: UInt64 = 1 << 10
    // Page-table entry bits.
    static let present: UInt64 = 1 << 0, writable: UInt64 = 1 << 1, pageSize: UInt64 = 1 << 7

    /// Selector of the flat 64-bit code segment in the GDT at `BootLayout.gdtAddress`.
    public static let codeSelector: UInt16 = 0x08
    /// Selector of the flat data segment in that GDT, loaded into DS, ES, FS, GS and SS.
    public static let dataSelector: UInt16 = 0x10

    /// Where the code and data descriptors sit in the GDT at `BootLayout.gdtAddress`.
    public struct GDTLayout: Sendable, Equatable {
        /// Selector of the flat 64-bit code segment, loaded into CS.
        public let codeSelector: UInt16
        /// Selector of the flat data segment, loaded into DS, ES, FS, GS and SS.
        public let dataSelector: UInt16
        /// This project's protocol: code 0x08, data 0x10.
        public static let own = GDTLayout(codeSelector: LongMode.codeSelector, dataSelector: LongMode.dataSelector)
        /// The Linux boot protocol's __BOOT_CS (0x10) and __BOOT_DS (0x18).
        public static let linux = GDTLayout(codeSelector: 0x10, dataSelector: 0x18)

        /// The descriptors, by index: null everywhere but the two segments.
        var entries: [UInt64] {
            var gdt = [UInt64](repeating: 0, count: Int(max(codeSelector, dataSelector) / 8) + 1)
            gdt[Int(codeSelector / 8)] = 0x00AF_9A00_0000_FFFF  // 64-bit code: L=1, P, DPL0, execute/read
            gdt[Int(dataSelector / 8)] = 0x00CF_9200_0000_FFFF  // data: P, read/write, G, D/B
            return gdt
        }
    }

    /// The GDT (`gdt`'s layout) and the page tables (identity map of the low 4 GiB with 2 MiB
    /// pages), as writes of a boot plan.
    public static func tableWrites(gdt layout: GDTLayout = .own) -> [BootPlan.Write] {
        let gdt = layout.entries
        // PML4 (1 page), PDPT (1 page), 4 page directories, from pml4Address on.
        var tables = [UInt64](repeating: 0, count: 0x6000 / 8)
        let base = BootLayout.pml4Address
        func set(_ address: UInt64, _ value: UInt64) { tables[Int((address - base) / 8)] = value }
        set(BootLayout.pml4Address, BootLayout.pdptAddress | present | writable)
        for gib in 0..<4 {
            let directory = BootLayout.pageDirectoriesAddress + UInt64(gib) * 0x1000
            set(BootLayout.pdptAddress + UInt64(gib * 8), directory | present | writable)
            for entry in 0..<512 {
                let physical = UInt64(gib) << 30 | UInt64(entry) << 21
                set(directory + UInt64(entry * 8), physical | present | writable | pageSize)
            }
        }
        return [.bytes(at: BootLayout.gdtAddress, littleEndianBytes(gdt)), .bytes(at: base, littleEndianBytes(tables))]
    }

    /// Writes the GDT and the page tables into `memory`.
    public static func writeTables(into memory: GuestMemory) throws {
        for write in tableWrites() { try memory.apply(write) }
    }

    /// Puts `vcpu` in 64-bit mode at `rip` with the given registers and RFLAGS = 0x2 (interrupts
    /// off), and makes it runnable. The GDT (of layout `gdt`) and page tables of `tableWrites`
    /// must be in memory.
    public static func enter(_ vcpu: KVMVCPU, rip: UInt64, rsp: UInt64, rdi: UInt64, rsi: UInt64, gdt: GDTLayout = .own) throws {
        var sregs = try vcpu.specialRegisters()
        sregs.cs = .flat(selector: gdt.codeSelector, type: 0xB, defaultSize32: false, longMode: true)
        let data = SegmentRegister.flat(selector: gdt.dataSelector, type: 0x3, defaultSize32: true, longMode: false)
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        sregs.gdt = DescriptorTableRegister(base: BootLayout.gdtAddress, limit: UInt16(gdt.entries.count * 8 - 1))
        sregs.cr3 = BootLayout.pml4Address
        sregs.cr4 = cr4PAE
        sregs.cr0 = cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0PG
        sregs.efer = eferLME | eferLMA
        try vcpu.setSpecialRegisters(sregs)

        var regs = Registers()
        regs.rip = rip
        regs.rsp = rsp
        regs.rdi = rdi
        regs.rsi = rsi
        try vcpu.setRegisters(regs)
        try vcpu.makeRunnable()
    }

    private static func littleEndianBytes(_ values: [UInt64]) -> [UInt8] {
        // One copy of the array's storage: the tables are thousands of entries, and a byte-by-
        // byte flatMap of them was a tenth of a null guest's start-up instructions.
        values.map { $0.littleEndian }.withUnsafeBytes { Array($0) }
    }
}
