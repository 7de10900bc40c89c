/// The tables of the Intel MultiProcessor Specification 1.4, for PC kernels that find their
/// processors and IOAPIC there instead of in ACPI (Linux built without ACPI, as the Linux test
/// guest is): the floating pointer, then the configuration table with one processor entry per
/// vCPU, the ISA bus, the IOAPIC, the ISA IRQs' assignments (IRQ 0, the PIT, on INTIN 2, as
/// the MADT's override says; IRQ 2, the cascade, none) and the LAPICs' LINT0 (ExtINT, when there
/// are 8259s to drive it) and LINT1 (NMI).
///
/// Both go in the first KiB of the EBDA (`base`), the first place a kernel searches, which
/// the memory map reserves.
public struct MPTable: Sendable {
    /// Where the floating pointer goes (the configuration table follows it).
    public static let base: UInt64 = PCBootData.conventionalEnd
    /// The room there: the first KiB of the EBDA.
    public static let capacity = 1024
    /// The specification revision written (1.4).
    static let revision: UInt8 = 4
    static let pointerSize = 16, headerSize = 44, processorSize = 20, entrySize = 8
    static let isaBus: UInt8 = 0
    /// Interrupt-assignment flags: polarity and trigger as the bus conforms to (ISA: edge, high),
    /// or, for the SCI, active high and level-triggered (the MADT's override).
    static let conforming: UInt16 = 0, levelHigh: UInt16 = 0x000D

    /// The floating pointer and the configuration table, from `base` on.
    public let bytes: [UInt8]
    /// How many processors have an entry: those whose APIC ID is below 255 (the field is 8
    /// bits; x2APIC IDs are only in the MADT), as many as fit in `capacity`.
    public let processorCount: Int

    /// The tables for processors with `apicIDs` (the first is the bootstrap processor), the
    /// IOAPIC with `ioapicID` at `ioapicAddress`, the LAPICs at `lapicAddress`, and the 8259s'
    /// ExtINT on LINT0 unless `has8259s` is false (a split irqchip has none).
    public init(apicIDs: [UInt32], ioapicID: UInt8 = 0, ioapicAddress: UInt32 = 0xFEC0_0000, lapicAddress: UInt32 = 0xFEE0_0000,
                has8259s: Bool = true) {
        // Bus, IOAPIC, the ISA IRQs but the cascade (2), the local interrupts (ExtINT only with 8259s, NMI).
        let fixedEntries = 2 + 15 + (has8259s ? 2 : 1)
        let room = (Self.capacity - Self.pointerSize - Self.headerSize - fixedEntries * Self.entrySize) / Self.processorSize
        let processors = apicIDs.filter { $0 < 0xFF }.prefix(room)
        var entries: [UInt8] = []
        entries.reserveCapacity(processors.count * Self.processorSize + fixedEntries * Self.entrySize)
        for (index, id) in processors.enumerated() {
            // Type 0: APIC ID, LAPIC version 0x14, enabled (and bootstrap), family 6 signature,
            // features FPU and APIC, 8 reserved bytes.
            let flags: UInt8 = index == 0 && id == apicIDs.first ? 0b11 : 0b01
            entries += [0, UInt8(id), 0x14, flags]
            entries.append(le: 0x600, 4)
            entries.append(le: 0x201, 4)
            entries.append(zeros: 8)
        }
        entries += [1, Self.isaBus]
        entries.append(text: "ISA   ")
        entries += [2, ioapicID, 0x11, 1]
        entries.append(le: UInt64(ioapicAddress), 4)
        for irq: UInt8 in 0..<16 where irq != 2 {
            let flags = UInt16(irq) == ACPITables.sciInterrupt ? Self.levelHigh : Self.conforming
            entries += [3, 0]
            entries.append(le: UInt64(flags), 2)
            entries += [Self.isaBus, irq, ioapicID, irq == 0 ? 2 : irq]
        }
        if has8259s { entries += [4, 3, 0, 0, Self.isaBus, 0, 0xFF, 0] }  // ExtINT on every LINT0 (flags 0)
        entries += [4, 1, 0, 0, Self.isaBus, 0, 0xFF, 1]  // NMI on every LINT1 (flags 0)

        let tableAddress = Self.base + UInt64(Self.pointerSize)
        let entryCount = processors.count + fixedEntries
        var table = [UInt8]()
        table.reserveCapacity(Self.headerSize + entries.count)
        table.append(text: "PCMP")
        table.append(le: UInt64(Self.headerSize + entries.count), 2)
        table += [Self.revision, 0]
        table.append(text: "SWVMM   ")
        table.append(text: "SWIFTVMM    ")
        table.append(le: 0, 4)  // OEM table pointer
        table.append(le: 0, 2)  // OEM table size
        table.append(le: UInt64(entryCount), 2)
        table.append(le: UInt64(lapicAddress), 4)
        table.append(le: 0, 2)  // extended table length
        table += [0, 0]  // extended table checksum, reserved
        table += entries
        table.setChecksum(at: 7, over: 0..<table.count)

        var pointer = [UInt8]()
        pointer.append(text: "_MP_")
        pointer.append(le: tableAddress, 4)
        pointer += [1, Self.revision, 0, 0, 0, 0, 0, 0]
        pointer.setChecksum(at: 10, over: 0..<pointer.count)
        bytes = pointer + table
        processorCount = processors.count
    }

    /// The boot-plan write that puts the tables in RAM.
    public var write: BootPlan.Write { .bytes(at: Self.base, bytes) }
}
