/// Building the little-endian structures a kernel reads (boot information, memory maps, ACPI
/// and MP tables): fields appended in place, and the checksum byte that makes a table's bytes
/// add up to 0.
///
/// Fields are appended to one array rather than concatenated from small ones: a table of 512
/// processors is built in a few allocations, not thousands.
extension Array where Element == UInt8 {
    /// Appends the low `size` bytes of `value`, least significant first.
    mutating func append(le value: UInt64, _ size: Int) {
        for i in 0..<size { append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    /// Appends the ASCII (UTF-8) bytes of `text`.
    mutating func append(text: String) {
        append(contentsOf: text.utf8)
    }

    /// Appends `count` zero bytes.
    mutating func append(zeros count: Int) {
        append(contentsOf: repeatElement(0, count: count))
    }

    /// Sets byte `index` so that the bytes of `range` (which holds it) add up to 0 mod 256.
    mutating func setChecksum(at index: Int, over range: Range<Int>) {
        self[index] = 0
        self[index] = 0 &- self[range].reduce(0, &+)
    }
}

/// A structure of 32- and 64-bit little-endian fields, written in order.
struct LittleEndianWriter {
    private(set) var bytes: [UInt8] = []
    mutating func u32(_ value: UInt32) { bytes.append(le: UInt64(value), 4) }
    mutating func u64(_ value: UInt64) { bytes.append(le: value, 8) }
}
