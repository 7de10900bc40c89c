/// The two table walks of an Intel VT-d remapping unit (VT-d specification, chapters 3 and 5),
/// as pure functions of the tables the guest keeps in its memory. Every table address, index
/// and entry is the guest's: a walk reads only through `PhysicalMemory` and ends in a fault
/// reason for anything it cannot follow.
public enum VTdTranslation {
    /// Why a request was not remapped: the specification's fault reasons (Appendix A).
    public enum Fault: UInt8, Sendable, Error {
        /// 1: the root entry of the requester's bus is not present.
        case rootEntryNotPresent = 0x01
        /// 2: the context entry of the requester's device and function is not present.
        case contextEntryNotPresent = 0x02
        /// 3: the context entry asks for a translation type or address width not offered.
        case invalidContextEntry = 0x03
        /// 4: the address is beyond the context's address width.
        case addressBeyondWidth = 0x04
        /// 5: a write to a page (or through a table) without W.
        case writeNotPermitted = 0x05
        /// 6: a read of a page (or through a table) without R.
        case readNotPermitted = 0x06
        /// 7: a page table entry lies outside RAM.
        case tableUnreachable = 0x07
        /// 8: the root entry lies outside RAM.
        case rootTableUnreachable = 0x08
        /// 9: the context entry lies outside RAM.
        case contextTableUnreachable = 0x09
        /// 0xC: a second-level paging entry sets reserved bits (a large page at the top of a
        /// 4-level table).
        case reservedBitsInPagingEntry = 0x0C
        /// 0x21: the interrupt handle is beyond the remapping table.
        case interruptIndexBeyondTable = 0x21
        /// 0x22: the interrupt remapping table entry is not present.
        case interruptEntryNotPresent = 0x22
        /// 0x23: the interrupt remapping table entry lies outside RAM.
        case interruptTableUnreachable = 0x23
        /// 0x24: the interrupt remapping table entry sets reserved bits (posting, SVT 3).
        case reservedBitsInInterruptEntry = 0x24
        /// 0x25: a compatibility-format interrupt while GSTS.CFIS is clear or the table is in
        /// x2APIC mode (EIME).
        case compatibilityFormatBlocked = 0x25
        /// 0x26: the requester is not the one the entry names.
        case sourceIDMismatch = 0x26
    }

    /// A DMA request's translation: where it lands.
    public struct DMAResult: Sendable, Equatable {
        /// The guest-physical address the request reaches.
        public let address: UInt64
        /// The 4 KiB (or larger) page's last byte reachable from `address` in one piece.
        public let pageEnd: UInt64
    }

    /// Address widths a context entry may ask for (its AW field: 1 = 39 bits, 3 levels; 2 = 48
    /// bits, 4 levels), the CAP register's SAGAW bits 1 and 2.
    static func levels(ofWidth aw: UInt64) -> Int? {
        switch aw {
        case 1: 3
        case 2: 4
        default: nil
        }
    }

    /// Translates DMA to `iova` by requester `sid` (bus 15:8, device/function 7:0) through the
    /// legacy-mode root table at `rootTable`: root entry, context entry, then 3 or 4 levels of
    /// second-level page tables with 2 MiB and 1 GiB pages. `write` says which permission the
    /// request needs. Throws the fault, marked quiet when the context entry disables fault
    /// recording (FPD).
    public static func translateDMA(_ iova: UInt64, sid: UInt16, write: Bool, rootTable: UInt64,
                                    memory: PhysicalMemory) throws(TranslationFault) -> DMAResult {
        let bus = UInt64(sid >> 8), devfn = UInt64(sid & 0xFF)
        guard let rootLow = memory.load64(at: rootTable &+ bus * 16) else { throw TranslationFault(.rootTableUnreachable) }
        guard rootLow & 1 != 0 else { throw TranslationFault(.rootEntryNotPresent) }
        let contextTable = rootLow & addressMask
        guard let contextLow = memory.load64(at: contextTable &+ devfn * 16),
              let contextHigh = memory.load64(at: contextTable &+ devfn * 16 + 8) else {
            throw TranslationFault(.contextTableUnreachable)
        }
        guard contextLow & 1 != 0 else { throw TranslationFault(.contextEntryNotPresent) }
        let quiet = contextLow & 2 != 0
        switch (contextLow >> 2) & 3 {
        case 0: break
        case 2: return DMAResult(address: iova, pageEnd: iova | 0xFFF)  // pass-through
        default: throw TranslationFault(.invalidContextEntry, quiet: quiet)
        }
        guard let levels = levels(ofWidth: contextHigh & 7) else { throw TranslationFault(.invalidContextEntry, quiet: quiet) }
        let width = 12 + 9 * levels
        guard iova >> width == 0 else { throw TranslationFault(.addressBeyondWidth, quiet: quiet) }
        var table = contextLow & addressMask
        for level in stride(from: levels, through: 1, by: -1) {
            let shift = UInt64(12 + 9 * (level - 1))
            guard let entry = memory.load64(at: table &+ ((iova >> shift) & 0x1FF) * 8) else {
                throw TranslationFault(.tableUnreachable, quiet: quiet)
            }
            guard entry & (write ? 2 : 1) != 0 else { throw TranslationFault(write ? .writeNotPermitted : .readNotPermitted, quiet: quiet) }
            let superpage = entry & (1 << 7) != 0
            if superpage && level > 3 { throw TranslationFault(.reservedBitsInPagingEntry, quiet: quiet) }
            if level == 1 || superpage {
                let pageMask = (UInt64(1) << shift) - 1
                let base = entry & addressMask & ~pageMask
                return DMAResult(address: base | (iova & pageMask), pageEnd: base | pageMask)
            }
            table = entry & addressMask
        }
        throw TranslationFault(.tableUnreachable, quiet: quiet)  // not reached: level 1 returns
    }

    /// A fault and whether it is recorded: a context entry's FPD bit makes a DMA fault quiet,
    /// an interrupt remapping table entry's FPD bit an interrupt's.
    public struct TranslationFault: Error, Sendable, Equatable {
        /// Why.
        public let reason: Fault
        /// The entry's FPD bit was set: the fault is not recorded.
        public let quiet: Bool
        init(_ reason: Fault, quiet: Bool = false) {
            self.reason = reason
            self.quiet = quiet
        }
    }

    /// Bits 51:12 of a table entry: the next table's or the page's address.
    static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// The interrupt remapping table as the guest programmed it (IRTA at SIRTP).
    public struct InterruptTable: Sendable, Equatable {
        /// Its base (4 KiB aligned).
        public var base: UInt64
        /// Entries: 2^(S + 1).
        public var entries: UInt32
        /// x2APIC mode (EIME): 32-bit destinations; otherwise an IRTE's destination is bits 15:8 of its DST.
        public var extendedMode: Bool

        /// A table of no entries: what remapping uses before the guest latched one.
        public static let empty: InterruptTable = {
            var table = InterruptTable(register: 0)
            table.entries = 0
            return table
        }()

        /// The table an IRTA register value names.
        public init(register: UInt64) {
            base = register & 0xFFFF_FFFF_FFFF_F000
            entries = 1 << ((register & 0xF) + 1)
            extendedMode = register & (1 << 11) != 0
        }
    }

    /// Remaps an interrupt request, an MSI write of `data` to `address`: a remappable-format
    /// request (address bit 4) goes through its interrupt remapping table entry and comes out in
    /// compatibility format, carrying destination bits 31:8 in address bits 63:40 as KVM's
    /// 32-bit APIC IDs take them; a compatibility-format one passes when `compatibilityAllowed`
    /// (GSTS.CFIS) and the table is not in x2APIC mode. `sid` is the requester for source-ID
    /// verification (nil: no verification, as QEMU's IOAPIC requests carry none). A fault past
    /// a present entry whose FPD bit is set is quiet.
    public static func remapInterrupt(address: UInt64, data: UInt32, sid: UInt16?, table: InterruptTable,
                                      compatibilityAllowed: Bool, memory: PhysicalMemory) throws(TranslationFault) -> (address: UInt64, data: UInt32) {
        guard address & (1 << 4) != 0 else {
            guard compatibilityAllowed, !table.extendedMode else { throw TranslationFault(.compatibilityFormatBlocked) }
            return (address, data)
        }
        var handle = UInt32(truncatingIfNeeded: (address >> 5) & 0x7FFF | ((address >> 2) & 1) << 15)
        if address & (1 << 3) != 0 { handle &+= data & 0xFFFF }  // SHV: the data holds a subhandle
        guard handle < table.entries else { throw TranslationFault(.interruptIndexBeyondTable) }
        let at = table.base &+ UInt64(handle) * 16
        guard let low = memory.load64(at: at), let high = memory.load64(at: at + 8) else {
            throw TranslationFault(.interruptTableUnreachable)
        }
        guard low & 1 != 0 else { throw TranslationFault(.interruptEntryNotPresent) }
        let quiet = low & 2 != 0
        // IRTE_MODE (bit 15) asks for posting, which this unit does not offer (CAP.PI is 0).
        guard low & (1 << 15) == 0 else { throw TranslationFault(.reservedBitsInInterruptEntry, quiet: quiet) }
        if let sid {
            do { try verify(sid, entryHigh: high) } catch { throw TranslationFault(error, quiet: quiet) }
        }
        let destinationField = UInt32(truncatingIfNeeded: low >> 32)
        let destination = table.extendedMode ? destinationField : (destinationField >> 8) & 0xFF
        let level = low & (1 << 4) != 0
        var out: UInt64 = 0xFEE0_0000 | UInt64(destination & 0xFF) << 12
        out |= (low & (1 << 3)) | (low & (1 << 2))  // redirection hint, destination mode
        out |= UInt64(destination & 0xFFFF_FF00) << 32
        let vector = UInt32(truncatingIfNeeded: (low >> 16) & 0xFF)
        let deliveryMode = UInt32(truncatingIfNeeded: (low >> 5) & 7)
        return (out, vector | deliveryMode << 8 | (level ? 1 << 15 | 1 << 14 : 0))
    }

    /// Source-ID verification of an IRTE (SVT, SQ, SID in its upper quadword).
    static func verify(_ sid: UInt16, entryHigh: UInt64) throws(Fault) {
        let expected = UInt16(truncatingIfNeeded: entryHigh)
        switch (entryHigh >> 18) & 3 {
        case 0: return
        case 1:
            // SQ: 0 compares all 16 bits; 1, 2, 3 ignore function bit 2, bits 2:1, bits 2:0.
            let ignored: UInt16
            switch (entryHigh >> 16) & 3 {
            case 0: ignored = 0
            case 1: ignored = 0b100
            case 2: ignored = 0b110
            default: ignored = 0b111
            }
            guard sid & ~ignored == expected & ~ignored else { throw .sourceIDMismatch }
        case 2:
            // The requester's bus lies in [SID 15:8, SID 7:0].
            let bus = sid >> 8
            guard bus >= expected >> 8, bus <= expected & 0xFF else { throw .sourceIDMismatch }
        default:
            throw .reservedBitsInInterruptEntry
        }
    }
}
