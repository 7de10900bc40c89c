/// Guest accesses to the BAR(s) holding the table and the PBA.
///
/// The rules, in the order they are checked (each refused access counts once):
/// 1. Size must be 4 or 8, else reads return all ones and writes are dropped (`badAccessSize`).
/// 2. The offset must be a multiple of the size (`misalignedAccess`).
/// 3. The bytes must lie wholly in the table or wholly in the PBA of that BAR
///    (`outsideTableAndPBA`).
/// An 8-byte access acts as two 4-byte accesses, low half (lower address) first; each half has
/// its own effects (mask update, message change, PBA poll), and notifiers commit once at the end.
extension MSIXDevice {
    private enum Target {
        case table(Int)
        case pba(Int)
    }

    /// A guest read of `size` bytes at `offset` in BAR `bar` (BAR-relative, little-endian).
    /// Table dwords read as stored (Vector Control: Mask bit only). A PBA dword read first polls
    /// its vectors [8·o, min(8·(o + 4), n)) when that range is not empty and a poll notifier is
    /// set (o: offset in the PBA). Anything refused reads all ones.
    public func read(bar: Int, offset: UInt64, size: Int) -> UInt64 {
        guard let target = locate(bar: bar, offset: offset, size: size) else {
            return allOnes(size: size)
        }
        var value: UInt64
        switch target {
        case let .table(at):
            value = UInt64(table.dword(at / 4))
            if size == 8 { value |= UInt64(table.dword(at / 4 + 1)) << 32 }
        case let .pba(at):
            value = UInt64(readPBADword(at))
            if size == 8 { value |= UInt64(readPBADword(at + 4)) << 32 }
        }
        return value
    }

    /// A guest write of `size` bytes at `offset` in BAR `bar`. Table dwords are stored (Vector
    /// Control keeps its Mask bit only), then the vector's masked state and message are
    /// compared with before (see `maskStateChanged`, `messageChanged`). PBA writes are ignored.
    public func write(bar: Int, offset: UInt64, size: Int, value: UInt64) {
        guard let target = locate(bar: bar, offset: offset, size: size) else { return }
        switch target {
        case let .table(at):
            writeTableDword(at, UInt32(truncatingIfNeeded: value))
            if size == 8 { writeTableDword(at + 4, UInt32(truncatingIfNeeded: value >> 32)) }
            finishOperation()
        case .pba:
            counters.pbaWritesIgnored &+= 1
        }
    }

    /// Whether BAR `bar` holds the table or the PBA (the PCI layer sends its accesses here).
    public func holdsStructure(bar: Int) -> Bool {
        bar == layout.table.bar || bar == layout.pba.bar
    }

    /// Checks size, alignment and place; counts what it refuses. Returns the byte offset in the
    /// table or the PBA.
    private func locate(bar: Int, offset: UInt64, size: Int) -> Target? {
        guard size == 4 || size == 8 else {
            counters.badAccessSize &+= 1
            return nil
        }
        guard offset % UInt64(size) == 0 else {
            counters.misalignedAccess &+= 1
            return nil
        }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(size))
        if !overflow {
            if bar == layout.table.bar && offset >= layout.table.offset && end <= layout.table.offset + layout.tableSize {
                // Below 16 · 2048: fits an Int.
                return .table(Int(offset - layout.table.offset))
            }
            if bar == layout.pba.bar && offset >= layout.pba.offset && end <= layout.pba.offset + layout.pbaSize {
                return .pba(Int(offset - layout.pba.offset))
            }
        }
        counters.outsideTableAndPBA &+= 1
        return nil
    }

    /// All ones of `size` bytes for 1…8, else all 64 bits.
    private func allOnes(size: Int) -> UInt64 {
        size >= 1 && size < 8 ? (1 << UInt64(8 * size)) - 1 : UInt64.max
    }

    /// One table dword write at table byte offset `at` (a multiple of 4 inside the table).
    private func writeTableDword(_ at: Int, _ value: UInt32) {
        let vector = at / Int(MSIXLayout.entrySize)
        let wasMasked = isBlocked(vector)
        let old = table.store(at / 4, value)
        let nowMasked = isBlocked(vector)
        if wasMasked != nowMasked {
            maskStateChanged(vector, nowMasked: nowMasked)
        } else if !nowMasked && (at / 4) % MSIXTable.dwordsPerEntry != MSIXTable.vectorControlDword
                    && old != table.dword(at / 4) {
            messageChanged(vector)
        }
    }

    /// One PBA dword read at PBA byte offset `at` (a multiple of 4 inside the PBA), polling first.
    private func readPBADword(_ at: Int) -> UInt32 {
        let first = at * 8
        let end = min((at + 4) * 8, vectorCount)
        if first < end, pollsOnPBARead, let notifiers {
            notifiers.poll(first: first, end: end, device: self)
        }
        return pending.dword(atByte: at)
    }
}
