/// Reads a fuzzer's input as a stream of little-endian fields, so each target decodes it into a
/// sequence of operations; past the end every field reads 0.
public struct FuzzInput {
    private let bytes: [UInt8]
    private var at = 0

    /// A reader positioned at the first of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Whether every byte has been read; from then on every field reads 0. Targets loop
    /// `while !input.isEmpty` (with a cap on the operation count).
    public var isEmpty: Bool { at >= bytes.count }

    /// The next byte, or 0 past the end.
    public mutating func u8() -> UInt8 {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return bytes[at]
    }

    /// The next 2 bytes, little-endian; bytes past the end read 0.
    public mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
    /// The next 4 bytes, little-endian; bytes past the end read 0.
    public mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
    /// The next 8 bytes, little-endian; bytes past the end read 0.
    public mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }

    /// An access size: 1, 2, 4 or 8.
    public mutating func size() -> Int { 1 << Int(u8() & 3) }

    /// The bytes left, as they are.
    public mutating func rest() -> [UInt8] {
        defer { at = bytes.count }
        return at < bytes.count ? Array(bytes[at...]) : []
    }
}
