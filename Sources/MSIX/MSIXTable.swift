/// The MSI-X vector table: one 16-byte entry per vector, kept as little-endian dwords.
///
/// ```
/// entry v at 16·v:
///   +0x0  Message Address (low 32 bits)      RW
///   +0x4  Message Upper Address              RW
///   +0x8  Message Data                       RW
///   +0xC  Vector Control: bit 0 = Mask       RW (bits 31:1 reserved, read 0, writes dropped)
/// ```
/// Storage is allocated once, at init; every later access writes in place.
/// Callers pass indices they have already bounds-checked against `vectorCount`.
struct MSIXTable {
    /// Dwords per entry.
    static let dwordsPerEntry = 4
    /// Index of Vector Control in an entry.
    static let vectorControlDword = 3
    /// The only Vector Control bit that exists.
    static let maskBit: UInt32 = 1

    private(set) var dwords: [UInt32]
    let vectorCount: Int

    /// A table whose entries are all zero with the Mask bit set, as after reset.
    init(vectorCount: Int) {
        self.vectorCount = vectorCount
        dwords = [UInt32](repeating: 0, count: vectorCount * Self.dwordsPerEntry)
        maskAll()
    }

    /// The dword at table byte offset 4·`index`.
    func dword(_ index: Int) -> UInt32 { dwords[index] }

    /// Stores a guest dword, dropping Vector Control's reserved bits. Returns the value before.
    @discardableResult
    mutating func store(_ index: Int, _ value: UInt32) -> UInt32 {
        let old = dwords[index]
        dwords[index] = index % Self.dwordsPerEntry == Self.vectorControlDword ? value & Self.maskBit : value
        return old
    }

    /// The vector's own Mask bit (Vector Control bit 0).
    func maskBitSet(_ vector: Int) -> Bool {
        dwords[vector * Self.dwordsPerEntry + Self.vectorControlDword] & Self.maskBit != 0
    }

    /// The message the entry holds now.
    func message(_ vector: Int) -> MSIXMessage {
        let base = vector * Self.dwordsPerEntry
        return MSIXMessage(address: UInt64(dwords[base + 1]) << 32 | UInt64(dwords[base]), data: dwords[base + 2])
    }

    /// Every entry to address 0, data 0, masked.
    mutating func maskAll() {
        for index in dwords.indices {
            dwords[index] = index % Self.dwordsPerEntry == Self.vectorControlDword ? Self.maskBit : 0
        }
    }

    /// Loads dwords from a snapshot of the same size, dropping reserved Vector Control bits.
    /// Copies element by element so the storage stays this table's own (no copy-on-write later).
    mutating func load(_ source: [UInt32]) {
        for index in dwords.indices where index < source.count {
            store(index, source[index])
        }
    }

    /// A copy with its own storage.
    func copyOfDwords() -> [UInt32] { dwords.map { $0 } }
}
