/// A device model reachable through a `Bus` range.
///
/// Offsets are relative to the start of the range the device was registered at; sizes are 1, 2,
/// 4 or 8 bytes and values are little-endian, zero-extended. Calls come from vCPU threads, possibly
/// several at once: a device synchronises its own state. Handlers must not block for long and
/// should not allocate: they run on the exit path.
public protocol BusDevice: AnyObject, Sendable {
    /// Returns the value of a `size`-byte read at `offset`.
    func read(offset: UInt64, size: Int) -> UInt64
    /// Handles a `size`-byte write of `value` at `offset`.
    func write(offset: UInt64, size: Int, value: UInt64)
}

/// All ones of an access size: what reads of nothing return on PCI and ISA buses.
@inline(__always)
public func allOnes(size: Int) -> UInt64 {
    size >= 8 ? UInt64.max : (UInt64(1) << UInt64(max(0, size) * 8)) &- 1
}
