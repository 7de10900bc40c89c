import TextFormat
/// Why a PCI configuration step was refused, naming the value.
public enum PCIError: Error, Equatable, CustomStringConvertible {
    /// A BAR `size` that is not a power of two in `minimum…maximum` bytes (16 B to 2 GiB for a
    /// 32-bit memory BAR, 16 B to 2^62 for a 64-bit one, 4 to 256 ports for I/O).
    case badBarSize(size: UInt64, minimum: UInt64, maximum: UInt64)
    /// `defineBar` was given an index outside 0…5, or outside 0…4 for a 64-bit BAR.
    case badBarIndex(Int)
    /// BAR register `index` already belongs to a BAR (defined there, or the high half of a 64-bit
    /// BAR below it).
    case barTaken(Int)
    /// A capability of `length` bytes at `offset` would overlap the one already at `existingOffset`
    /// (`existingLength` bytes).
    case capabilityOverlap(offset: Int, length: Int, existingOffset: Int, existingLength: Int)
    /// A capability of `length` bytes at `offset` would not lie within 0x40…0xFF, or `length` is
    /// under 2 (the ID and next-pointer bytes); `offset` is 0x40 when none was asked for.
    case capabilityOutOfRange(offset: Int, length: Int)
    /// A capability was asked for at an `offset` that is not a multiple of 4.
    case capabilityMisaligned(offset: Int)
    /// No dword-aligned gap of `length` bytes is left between 0x40 and the end of config space.
    case noRoomForCapability(length: Int)
    /// Another function is already attached at this address.
    case slotTaken(PCIAddress)
    /// A device number outside 0…31.
    case slotOutOfRange(Int)
    /// A function number outside 0…7.
    case functionOutOfRange(Int)
    /// The function `name` is already attached, to this root or to another.
    case functionAttached(name: String)
    /// The `name` window ("MMIO" or "I/O") of `size` bytes at `base` is empty or runs past 4 GiB
    /// (MMIO) or port 0xFFFF (I/O).
    case badWindow(name: String, base: UInt64, size: UInt64)
    /// No naturally aligned room of `size` bytes is left in the `window` window ("MMIO" or "I/O")
    /// for a BAR of a function being attached.
    case windowExhausted(size: UInt64, window: String)

    public var description: String {
        switch self {
        case let .badBarSize(size, minimum, maximum):
            return "BAR size \(hex(size)) is not a power of two in \(hex(minimum))…\(hex(maximum))"
        case let .badBarIndex(index): return "BAR index \(index) is out of range 0…5 (or 0…4 for a 64-bit BAR)"
        case let .barTaken(index): return "BAR \(index) is already defined"
        case let .capabilityOverlap(offset, length, existingOffset, existingLength):
            return "capability at \(hex(offset)) (\(length) bytes) overlaps the capability at \(hex(existingOffset)) (\(existingLength) bytes)"
        case let .capabilityOutOfRange(offset, length):
            return "capability at \(hex(offset)) (\(length) bytes) is outside 0x40…0xff"
        case let .capabilityMisaligned(offset): return "capability offset \(hex(offset)) is not dword-aligned"
        case let .noRoomForCapability(length): return "no room left for a \(length)-byte capability"
        case let .slotTaken(address): return "PCI slot \(address) is already taken"
        case let .slotOutOfRange(device): return "PCI device number \(device) is out of range 0…31"
        case let .functionOutOfRange(function): return "PCI function number \(function) is out of range 0…7"
        case let .functionAttached(name): return "PCI function \(name) is already attached"
        case let .badWindow(name, base, size):
            return "PCI \(name) window at \(hex(base)) (\(hex(size)) bytes) is empty or runs past the end of its space"
        case let .windowExhausted(size, window): return "no room for a BAR of \(hex(size)) bytes in the \(window) window"
        }
    }
}
