/// The Pending Bit Array: bit v set means vector v was raised while masked and not yet delivered.
///
/// ```
/// PBA qword q (byte offset 8·q) holds vectors 64·q … 64·q + 63, vector 64·q + b in bit b.
/// ```
/// Bits at and above `vectorCount` are always zero. Storage is allocated once, at init.
/// Callers pass vectors they have already bounds-checked.
struct MSIXPendingBits {
    private(set) var qwords: [UInt64]
    let vectorCount: Int

    init(vectorCount: Int) {
        self.vectorCount = vectorCount
        qwords = [UInt64](repeating: 0, count: (vectorCount + 63) / 64)
    }

    func isSet(_ vector: Int) -> Bool { qwords[vector / 64] & (1 << UInt64(vector % 64)) != 0 }

    mutating func set(_ vector: Int) { qwords[vector / 64] |= 1 << UInt64(vector % 64) }

    mutating func clear(_ vector: Int) { qwords[vector / 64] &= ~(1 << UInt64(vector % 64)) }

    mutating func clearAll() {
        for index in qwords.indices { qwords[index] = 0 }
    }

    /// The dword at PBA byte offset `offset` (a multiple of 4 inside the PBA).
    func dword(atByte offset: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: qwords[offset / 8] >> UInt64((offset % 8) * 8))
    }

    /// Loads a snapshot's qwords, dropping bits of vectors that do not exist.
    mutating func load(_ source: [UInt64]) {
        for index in qwords.indices {
            qwords[index] = index < source.count ? source[index] : 0
        }
        let spare = qwords.count * 64 - vectorCount
        if spare > 0, let last = qwords.indices.last {
            qwords[last] &= UInt64.max >> UInt64(spare)
        }
    }

    /// A copy with its own storage.
    func copyOfQwords() -> [UInt64] { qwords.map { $0 } }
}
