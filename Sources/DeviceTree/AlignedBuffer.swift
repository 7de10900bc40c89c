/// Bytes kept in 8-byte words, so the start is 8-byte aligned as libfdt expects of a blob
/// (`FDT_ERR_ALIGNMENT`), whatever the allocator does for plain byte arrays.
///
/// Only the first `count` bytes are ever handed out; the words may hold up to 7 bytes of zero
/// padding after them.
struct AlignedBuffer: Sendable {
    private var words: [UInt64]
    /// Number of usable bytes.
    let count: Int

    /// `count` zero bytes.
    init(zeroed count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        self.words = [UInt64](repeating: 0, count: (count + 7) / 8)
    }

    /// A copy of `bytes`.
    init(copying bytes: [UInt8]) {
        self.init(zeroed: bytes.count)
        words.withUnsafeMutableBytes { raw in
            // The word array holds at least bytes.count bytes (rounded up to whole words), so
            // copying bytes.count bytes to its start stays in bounds.
            raw.copyBytes(from: bytes)
        }
    }

    /// Calls `body` with the first `count` bytes.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        words.withUnsafeBytes { raw in
            // The word storage is at least `count` bytes long, so the prefix is within it.
            body(UnsafeRawBufferPointer(rebasing: raw.prefix(count)))
        }
    }

    /// Calls `body` with the first `count` bytes, writable.
    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        let count = self.count
        return words.withUnsafeMutableBytes { raw in
            // As above: the storage holds at least `count` bytes.
            body(UnsafeMutableRawBufferPointer(rebasing: raw.prefix(count)))
        }
    }

    /// A copy of the first `length` bytes (clamped to `count`).
    func bytes(prefix length: Int) -> [UInt8] {
        withUnsafeBytes { raw in Array(raw.prefix(max(0, length))) }
    }

    /// The big-endian 32-bit word at byte `offset`, or nil when it does not lie within `count`.
    func bigEndianUInt32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= count - 4 else { return nil }
        return withUnsafeBytes { raw in
            // offset + 4 <= count was checked above; each index is bounds-checked again by the
            // buffer's subscript in debug builds.
            (0..<4).reduce(UInt32(0)) { value, index in value << 8 | UInt32(raw[offset + index]) }
        }
    }
}
