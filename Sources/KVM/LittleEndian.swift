/// Converting between the exit data in `kvm_run` (little-endian bytes) and access values.

/// Loads a `size`-byte little-endian value (size 1…8) from `pointer`.
@inline(__always)
func loadLittleEndian(_ pointer: UnsafeRawPointer, size: Int) -> UInt64 {
    switch size {
    case 1: return UInt64(pointer.load(as: UInt8.self))
    case 2: return UInt64(UInt16(littleEndian: pointer.loadUnaligned(as: UInt16.self)))
    case 4: return UInt64(UInt32(littleEndian: pointer.loadUnaligned(as: UInt32.self)))
    case 8: return UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self))
    default:
        var value: UInt64 = 0
        for i in 0..<min(max(size, 0), 8) { value |= UInt64(pointer.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
        return value
    }
}

/// Stores the low `size` bytes (size 1…8) of `value` little-endian at `pointer`.
@inline(__always)
func storeLittleEndian(_ value: UInt64, _ pointer: UnsafeMutableRawPointer, size: Int) {
    switch size {
    case 1: pointer.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
    case 2: pointer.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
    case 4: pointer.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
    case 8: pointer.storeBytes(of: value.littleEndian, as: UInt64.self)
    default:
        for i in 0..<min(max(size, 0), 8) {
            pointer.storeBytes(of: UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))), toByteOffset: i, as: UInt8.self)
        }
    }
}
