import Memory

/// A split virtqueue (virtio 1.2 §2.7) as the device sees it: the descriptor table, the driver
/// area (available ring: flags, idx, ring[size], used_event) and the device area (used ring:
/// flags, idx, ring[size] of (id, len), avail_event), in guest RAM.
///
/// Everything in those areas is the guest's to change at any moment: the indices are read once
/// per use, a chain's buffers are checked against RAM when it is read, and an available index
/// that runs ahead by more than the queue size is an error, not a loop over stale entries.
/// Not thread-safe: the transport serves a queue from one thread at a time.
public struct SplitVirtqueue: Sendable {
    /// The queue's number on its device, for messages.
    public let index: Int
    /// Entries in each ring (a power of two).
    public let size: Int
    /// Guest-physical addresses of the three areas.
    public let descriptorTable: UInt64, driverArea: UInt64, deviceArea: UInt64
    private let memory: GuestMemory
    private let eventIndex: Bool
    private let indirect: Bool
    /// The available ring's index up to which the device has taken chains.
    public private(set) var lastAvailable: UInt16 = 0
    /// The used ring's index the device has published.
    public private(set) var usedIndex: UInt16 = 0
    private var signalledUsed: UInt16 = 0
    private var signalledValid = false

    /// The largest queue size of a split ring.
    public static let maxSize = 32768

    /// A queue of `size` entries at the given areas, with the ring features in `features`
    /// (VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC). Throws `VirtioError` for a size that is not
    /// a power of two up to `maximum`, or an area misaligned or outside RAM.
    public init(index: Int, size: Int, maximum: Int, descriptorTable: UInt64, driverArea: UInt64, deviceArea: UInt64,
                features: UInt64, memory: GuestMemory) throws(VirtioError) {
        guard size > 0, size <= min(maximum, Self.maxSize), size & (size - 1) == 0 else {
            throw .badQueueSize(queue: index, size: size, maximum: min(maximum, Self.maxSize))
        }
        let areas: [(String, UInt64, UInt64, UInt64)] = [
            ("descriptor table", descriptorTable, 16 * UInt64(size), 16),
            ("driver area", driverArea, 6 + 2 * UInt64(size), 2),
            ("device area", deviceArea, 6 + 8 * UInt64(size), 4),
        ]
        for (name, address, bytes, alignment) in areas where address % alignment != 0 || !memory.contains(address, count: bytes) {
            throw .badRingAddress(queue: index, area: name, address: address, bytes: bytes)
        }
        self.index = index
        self.size = size
        self.descriptorTable = descriptorTable
        self.driverArea = driverArea
        self.deviceArea = deviceArea
        self.memory = memory
        eventIndex = features & VirtioFeature.eventIndex != 0
        indirect = features & VirtioFeature.indirectDescriptors != 0
    }

    /// The next available chain, or nil when the driver has made none available.
    public mutating func next() throws(VirtioError) -> DescriptorChain? {
        let available = memory.loadAcquire16(driverArea + 2)
        guard available != lastAvailable else { return nil }
        guard Int(available &- lastAvailable) <= size else {
            throw .availableIndexJumped(queue: index, from: lastAvailable, to: available, size: size)
        }
        let head = memory.loadLE16(driverArea + 4 + 2 * UInt64(Int(lastAvailable) % size))
        lastAvailable &+= 1
        return try DescriptorChain.read(head: head, table: descriptorTable, tableSize: size, memory: memory, queue: index,
                                        indirectAllowed: indirect)
    }

    /// Puts `chain` in the used ring with `written` bytes written to its writable buffers, and
    /// publishes the new used index.
    public mutating func complete(_ chain: DescriptorChain, written: UInt32) {
        let slot = deviceArea + 4 + 8 * UInt64(Int(usedIndex) % size)
        memory.storeLE32(UInt32(chain.head), slot)
        memory.storeLE32(written, slot + 4)
        usedIndex &+= 1
        memory.storeRelease16(usedIndex, deviceArea + 2)
    }

    /// Whether the driver wants an interrupt for what was completed since the last time this
    /// said yes: with VIRTIO_F_EVENT_IDX, when the used index passed used_event; without, unless
    /// the driver set VIRTQ_AVAIL_F_NO_INTERRUPT.
    public mutating func needsInterrupt() -> Bool {
        memoryFence()
        guard eventIndex else { return memory.loadLE16(driverArea) & 1 == 0 }
        let old = signalledUsed, new = usedIndex, wasValid = signalledValid
        signalledUsed = new
        signalledValid = true
        let usedEvent = memory.loadLE16(driverArea + 4 + 2 * UInt64(size))
        return !wasValid || (new &- usedEvent &- 1) < (new &- old)
    }

    /// Before the device goes idle: with VIRTIO_F_EVENT_IDX, asks the driver to notify at the
    /// next chain (avail_event). Returns true when a chain became available meanwhile, so the
    /// device serves it instead of waiting for a notification that will not come.
    public mutating func armNotifications() -> Bool {
        if eventIndex { memory.storeLE16(lastAvailable, deviceArea + 4 + 8 * UInt64(size)) }
        memoryFence()
        return memory.loadAcquire16(driverArea + 2) != lastAvailable
    }
}
