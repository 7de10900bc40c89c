import Memory

/// Guest-physical memory as a device reaches it by DMA: the machine's RAM regions by base
/// address. Every address is the guest's to choose, so each access is checked against the
/// regions and one that leaves them fails (nil or false) instead of touching the host.
public struct PhysicalMemory: Sendable {
    /// The RAM regions, each at its guest-physical base.
    public let regions: [Region]

    /// One RAM region.
    public struct Region: Sendable {
        /// Its first guest-physical address.
        public let base: UInt64
        /// Its host mapping.
        public let memory: GuestMemory
        /// `memory` at guest-physical `base`.
        public init(base: UInt64, memory: GuestMemory) {
            self.base = base
            self.memory = memory
        }
    }

    /// Memory made of `regions` (they must not overlap).
    public init(_ regions: [Region]) {
        self.regions = regions
    }

    /// The region holding all of `[address, address + count)`, and the offset in it.
    private func locate(_ address: UInt64, count: Int) -> (GuestMemory, UInt64)? {
        for region in regions where address >= region.base {
            let offset = address - region.base
            if region.memory.contains(offset, count: UInt64(count)) { return (region.memory, offset) }
        }
        return nil
    }

    /// The little-endian 64-bit value at `address`, or nil outside RAM.
    public func load64(at address: UInt64) -> UInt64? {
        guard let (memory, offset) = locate(address, count: 8) else { return nil }
        return try? memory.load(UInt64.self, at: offset)
    }

    /// Stores a little-endian 32-bit value at `address`; false outside RAM.
    @discardableResult
    public func store32(_ value: UInt32, at address: UInt64) -> Bool {
        guard let (memory, offset) = locate(address, count: 4) else { return false }
        return (try? memory.store(value, at: offset)) != nil
    }

    /// `count` bytes from `address`, or nil unless all of them are RAM.
    public func read(at address: UInt64, count: Int) -> [UInt8]? {
        guard let (memory, offset) = locate(address, count: count) else { return nil }
        return try? memory.read(at: offset, count: count)
    }

    /// Writes `bytes` at `address`; false (and nothing written) unless all of them are RAM.
    @discardableResult
    public func write(_ bytes: [UInt8], at address: UInt64) -> Bool {
        guard let (memory, offset) = locate(address, count: bytes.count) else { return false }
        return (try? memory.write(bytes, at: offset)) != nil
    }
}
