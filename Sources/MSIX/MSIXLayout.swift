/// Where one MSI-X structure lives: a BAR (0–5) and a byte offset in it.
public struct MSIXPlacement: Sendable, Equatable {
    /// The BAR Indicator (BIR), 0…5.
    public var bar: Int
    /// Byte offset in the BAR; 8-byte aligned, below 4 GiB.
    public var offset: UInt64

    /// A placement in BAR `bar` at byte `offset`, unchecked: `MSIXLayout`'s initializer
    /// validates it.
    public init(bar: Int, offset: UInt64) {
        self.bar = bar
        self.offset = offset
    }

    /// The value of the Table or PBA Offset/BIR register: offset in bits 31:3, BIR in bits 2:0.
    var register: UInt32 {
        UInt32(truncatingIfNeeded: offset) | UInt32(truncatingIfNeeded: bar & 0x7)
    }
}

/// A validated placement of the table and the PBA of an MSI-X function with `vectorCount` vectors.
///
/// Sizes: the table takes 16 bytes per vector; the PBA takes one bit per vector rounded up to
/// whole 64-bit words (⌈n / 64⌉ · 8 bytes), so 8-byte accesses never run past it.
public struct MSIXLayout: Sendable, Equatable {
    /// Table Size in Message Control is N − 1 in 11 bits.
    public static let maximumVectors = 2048
    /// Bytes per table entry.
    public static let entrySize: UInt64 = 16
    /// The smallest exclusive MSI-X BAR, and where its PBA starts at the least.
    public static let minimumExclusiveBARSize: UInt64 = 4096

    /// Number of vectors n, 1…2048 (Message Control's Table Size field reads n − 1).
    public let vectorCount: Int
    /// The vector table's BAR (0…5) and byte offset in it (8-byte aligned, below 4 GiB).
    public let table: MSIXPlacement
    /// Size in bytes of the BAR that holds the table; the table ends within it.
    public let tableBARSize: UInt64
    /// The Pending Bit Array's BAR (0…5) and byte offset in it (8-byte aligned, below 4 GiB).
    public let pba: MSIXPlacement
    /// Size in bytes of the BAR that holds the PBA; the PBA ends within it
    /// (`exclusiveBAR(vectorCount:bar:)` gives both BAR sizes the same value).
    public let pbaBARSize: UInt64

    /// Bytes the table takes: 16 · vectorCount.
    public var tableSize: UInt64 { Self.tableSize(vectorCount: vectorCount) }
    /// Bytes the PBA takes: ⌈vectorCount / 64⌉ · 8.
    public var pbaSize: UInt64 { Self.pbaSize(vectorCount: vectorCount) }

    /// Validates a placement: 1…2048 vectors; BIRs 0…5; offsets 8-byte aligned and below 4 GiB;
    /// each structure inside its BAR (`tableBARSize`, `pbaBARSize` bytes); no overlap when both
    /// share a BAR. Checks run in that order and the first failure is thrown.
    public init(vectorCount: Int, table: MSIXPlacement, tableBARSize: UInt64,
                pba: MSIXPlacement, pbaBARSize: UInt64) throws(MSIXError) {
        guard vectorCount >= 1 && vectorCount <= Self.maximumVectors else {
            throw .vectorCountOutOfRange(vectorCount)
        }
        let tableSize = Self.tableSize(vectorCount: vectorCount)
        let pbaSize = Self.pbaSize(vectorCount: vectorCount)
        let structures: [(MSIXStructure, MSIXPlacement, UInt64, UInt64)] = [
            (.table, table, tableSize, tableBARSize), (.pba, pba, pbaSize, pbaBARSize),
        ]
        for (structure, placement, _, _) in structures {
            guard placement.bar >= 0 && placement.bar <= 5 else {
                throw .barIndexOutOfRange(structure: structure, bar: placement.bar)
            }
        }
        for (structure, placement, _, _) in structures {
            guard placement.offset & 0x7 == 0 else { throw .offsetMisaligned(structure: structure, offset: placement.offset) }
            guard placement.offset <= UInt64(UInt32.max) else { throw .offsetTooLarge(structure: structure, offset: placement.offset) }
        }
        for (structure, placement, size, barSize) in structures {
            // offset < 2^32 and size ≤ 32 KiB: the sum cannot overflow.
            guard placement.offset + size <= barSize else {
                throw .structureDoesNotFit(structure: structure, vectors: vectorCount, offset: placement.offset,
                                           size: size, bar: placement.bar, barSize: barSize)
            }
        }
        if table.bar == pba.bar && table.offset < pba.offset + pbaSize && pba.offset < table.offset + tableSize {
            throw .structuresOverlap(bar: table.bar, tableOffset: table.offset, tableSize: tableSize,
                                     pbaOffset: pba.offset, pbaSize: pbaSize)
        }
        self.vectorCount = vectorCount
        self.table = table
        self.tableBARSize = tableBARSize
        self.pba = pba
        self.pbaBARSize = pbaBARSize
    }

    /// Table and PBA alone in BAR `bar`, as QEMU's exclusive MSI-X BAR: table at 0, PBA at
    /// max(2048, 16 · n), BAR size the smallest power of two ≥ 4 KiB that holds both.
    ///
    /// | n    | PBA offset | PBA size | BAR size |
    /// | ---- | ---------- | -------- | -------- |
    /// | 1    | 0x800      | 8        | 4 KiB    |
    /// | 128  | 0x800      | 16       | 4 KiB    |
    /// | 129  | 0x810      | 24       | 4 KiB    |
    /// | 2048 | 0x8000     | 256      | 64 KiB   |
    public static func exclusiveBAR(vectorCount: Int, bar: Int) throws(MSIXError) -> MSIXLayout {
        guard vectorCount >= 1 && vectorCount <= maximumVectors else { throw .vectorCountOutOfRange(vectorCount) }
        let pbaOffset = exclusivePBAOffset(vectorCount: vectorCount)
        let barSize = exclusiveBARSize(vectorCount: vectorCount)
        return try MSIXLayout(vectorCount: vectorCount, table: MSIXPlacement(bar: bar, offset: 0), tableBARSize: barSize,
                              pba: MSIXPlacement(bar: bar, offset: pbaOffset), pbaBARSize: barSize)
    }

    /// 16 · n bytes.
    public static func tableSize(vectorCount: Int) -> UInt64 {
        UInt64(clamping: max(vectorCount, 0)) &* entrySize
    }

    /// ⌈n / 64⌉ · 8 bytes.
    public static func pbaSize(vectorCount: Int) -> UInt64 {
        (UInt64(clamping: max(vectorCount, 0)) + 63) / 64 * 8
    }

    /// Where the exclusive BAR puts the PBA: max(2048, 16 · n).
    public static func exclusivePBAOffset(vectorCount: Int) -> UInt64 {
        max(minimumExclusiveBARSize / 2, tableSize(vectorCount: min(vectorCount, maximumVectors)))
    }

    /// The exclusive BAR's size: the next power of two ≥ 4 KiB that holds table and PBA.
    public static func exclusiveBARSize(vectorCount: Int) -> UInt64 {
        let n = min(vectorCount, maximumVectors)
        let end = exclusivePBAOffset(vectorCount: n) + pbaSize(vectorCount: n)
        var size = minimumExclusiveBARSize
        while size < end { size <<= 1 }
        return size
    }
}
