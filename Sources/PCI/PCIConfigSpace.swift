/// The bytes of one function's configuration space with per-byte write rules.
///
/// Each byte has a writable mask (bits the guest may change) and a write-1-to-clear mask (bits a
/// guest write of 1 clears, e.g. Status error bits). Everything else is read-only to the guest;
/// the device model sets any byte with `set`.
public struct PCIConfigSpace: Sendable {
    /// 256 bytes of conventional space; ECAM sees 4 KiB, the extended part reads as 0.
    public static let size = 256

    private var bytes = [UInt8](repeating: 0, count: size)
    private var writable = [UInt8](repeating: 0, count: size)
    private var writeOneToClear = [UInt8](repeating: 0, count: size)

    /// 256 zero bytes, none of them writable or write-1-to-clear.
    public init() {}

    /// Reads `size` (1, 2 or 4) bytes at `offset`, little-endian. Bytes past the end read 0.
    public func read(_ offset: Int, size: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<size where offset + i >= 0 && offset + i < Self.size {
            value |= UInt32(bytes[offset + i]) << (8 * UInt32(i))
        }
        return value
    }

    /// A guest write: applies the writable and write-1-to-clear masks byte by byte.
    public mutating func guestWrite(_ offset: Int, size: Int, value: UInt32) {
        for i in 0..<size where offset + i >= 0 && offset + i < Self.size {
            let o = offset + i
            let new = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))
            bytes[o] = (bytes[o] & ~writable[o]) | (new & writable[o])
            bytes[o] &= ~(new & writeOneToClear[o])
        }
    }

    /// Sets bytes as the device (not subject to masks).
    public mutating func set(_ offset: Int, size: Int, value: UInt32) {
        for i in 0..<size where offset + i >= 0 && offset + i < Self.size {
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))
        }
    }

    /// Sets the writable mask of `size` bytes at `offset`.
    public mutating func setWritable(_ offset: Int, size: Int, mask: UInt32) {
        for i in 0..<size where offset + i >= 0 && offset + i < Self.size {
            writable[offset + i] = UInt8(truncatingIfNeeded: mask >> (8 * UInt32(i)))
        }
    }

    /// Sets the write-1-to-clear mask of `size` bytes at `offset`.
    public mutating func setWriteOneToClear(_ offset: Int, size: Int, mask: UInt32) {
        for i in 0..<size where offset + i >= 0 && offset + i < Self.size {
            writeOneToClear[offset + i] = UInt8(truncatingIfNeeded: mask >> (8 * UInt32(i)))
        }
    }
}
