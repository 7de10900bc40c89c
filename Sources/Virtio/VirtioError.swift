import TextFormat

/// What a driver did wrong, found while the device read its queues: the device then sets
/// NEEDS_RESET and serves that queue no more until the driver resets it. Every value here came
/// from the guest; the message names it.
public enum VirtioError: Error, Equatable, CustomStringConvertible {
    /// A queue size that is 0, not a power of two, or above the device's maximum.
    case badQueueSize(queue: Int, size: Int, maximum: Int)
    /// A ring area (descriptor table, driver or device area) misaligned or outside RAM.
    case badRingAddress(queue: Int, area: String, address: UInt64, bytes: UInt64)
    /// The driver's available index moved ahead of the device's by more than the queue size.
    case availableIndexJumped(queue: Int, from: UInt16, to: UInt16, size: Int)
    /// A descriptor index at or above the table's size.
    case descriptorIndexOutOfRange(queue: Int, index: UInt16, tableSize: Int)
    /// A chain that visits more descriptors than its table holds (a loop).
    case chainTooLong(queue: Int, head: UInt16, limit: Int)
    /// A buffer that does not lie inside guest RAM.
    case bufferOutsideRAM(queue: Int, address: UInt64, length: UInt32)
    /// An indirect table with a bad length, in a chain that has one already, or with NEXT set,
    /// or when the driver did not negotiate VIRTIO_F_INDIRECT_DESC.
    case badIndirectTable(queue: Int, address: UInt64, length: UInt32, reason: String)
    /// A device-readable descriptor after a device-writable one.
    case readableAfterWritable(queue: Int, head: UInt16)
    /// The chain is not what the device's request format needs (too short, header missing…).
    case badRequest(queue: Int, reason: String)

    public var description: String {
        switch self {
        case let .badQueueSize(q, size, maximum):
            "queue \(q): size \(size) is not a power of two in 1…\(maximum)"
        case let .badRingAddress(q, area, address, bytes):
            "queue \(q): \(area) at \(hex(address)) (\(bytes) bytes) is misaligned or outside RAM"
        case let .availableIndexJumped(q, from, to, size):
            "queue \(q): available index jumped from \(from) to \(to), more than the queue size \(size)"
        case let .descriptorIndexOutOfRange(q, index, tableSize):
            "queue \(q): descriptor index \(index) is outside a table of \(tableSize)"
        case let .chainTooLong(q, head, limit):
            "queue \(q): the chain from descriptor \(head) is longer than \(limit) (a loop)"
        case let .bufferOutsideRAM(q, address, length):
            "queue \(q): buffer at \(hex(address)) of \(length) bytes is outside RAM"
        case let .badIndirectTable(q, address, length, reason):
            "queue \(q): indirect table at \(hex(address)) of \(length) bytes: \(reason)"
        case let .readableAfterWritable(q, head):
            "queue \(q): the chain from descriptor \(head) has a device-readable buffer after a device-writable one"
        case let .badRequest(q, reason):
            "queue \(q): \(reason)"
        }
    }
}
