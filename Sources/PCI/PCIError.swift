import TextFormat
/// Why a PCI configuration step was refused, naming the value.
public enum PCIError: Error, Equatable, CustomStringConvertible {
    case badBarSize(size: UInt64, minimum: UInt64, maximum: UInt64)
    case badBarIndex(Int)
    case barTaken(Int)
    case capabilityOverlap(offset: Int, length: Int, existingOffset: Int, existingLength: Int)
    case capabilityOutOfRange(offset: Int, length: Int)
    case capabilityMisaligned(offset: Int)
    case noRoomForCapability(length: Int)
    case slotTaken(PCIAddress)
    case slotOutOfRange(Int)
    case functionOutOfRange(Int)
    case functionAttached(name: String)
    case badWindow(name: String, base: UInt64, size: UInt64)
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
