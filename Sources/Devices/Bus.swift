#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TextFormat

/// An address-range map of devices: one instance for port I/O, one for MMIO.
///
/// Ranges are kept sorted and may not overlap; lookup is a binary search. An access is routed to a
/// device only when it lies wholly inside the device's range. Unclaimed reads return all ones and
/// unclaimed writes are dropped; both are counted and logged at a limited rate.
/// Registration may happen while vCPUs run (BAR relocation): the map is behind a mutex held only
/// for the lookup, never while a device handler runs. Each range counts the accesses running in
/// it, so `unregister` can wait until none is: once it returns, the device gets no more calls
/// through that range.
public final class Bus: Sendable {
    /// One registered range. `last` is inclusive so a range may end at the top of the address space.
    public struct Range: Sendable, Equatable, CustomStringConvertible {
        public let base: UInt64
        public let last: UInt64
        public var size: UInt64 { last &- base &+ 1 }
        public var description: String { "[\(hex(base))…\(hex(last))]" }
    }

    final class Entry: Sendable {
        let range: Range
        let name: String
        let device: any BusDevice
        /// Accesses found in this range and not yet returned from the device.
        let inFlight = Atomic<Int>(0)

        init(range: Range, name: String, device: any BusDevice) {
            self.range = range
            self.name = name
            self.device = device
        }
    }

    /// "port" or "MMIO", for messages.
    public let spaceName: String
    private let entries = Mutex<[Entry]>([])
    private let unclaimedLog: RateLimitedLog

    /// - Parameters:
    ///   - spaceName: how messages name this space ("port", "MMIO").
    ///   - unclaimedLogLimit: unclaimed accesses logged before going quiet (later ones are only counted).
    ///   - log: where those messages go.
    public init(spaceName: String, unclaimedLogLimit: Int = 8, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.spaceName = spaceName
        unclaimedLog = RateLimitedLog(limit: unclaimedLogLimit, sink: log)
    }

    /// Adds `device` at [base, base + size). Refuses empty, wrapping and overlapping ranges.
    public func register(_ device: any BusDevice, name: String, base: UInt64, size: UInt64) throws(BusError) {
        guard size > 0 else { throw .emptyRange(name: name, base: base) }
        let (last, overflow) = base.addingReportingOverflow(size - 1)
        guard !overflow else { throw .wrapsAround(name: name, base: base, size: size) }
        let range = Range(base: base, last: last)
        try entries.withLock { (list: inout [Entry]) throws(BusError) in
            let index = Self.insertionIndex(list, base)
            if index > 0, list[index - 1].range.last >= base {
                throw .overlap(name: name, range: range, existing: list[index - 1].name, existingRange: list[index - 1].range)
            }
            if index < list.count, list[index].range.base <= last {
                throw .overlap(name: name, range: range, existing: list[index].name, existingRange: list[index].range)
            }
            list.insert(Entry(range: range, name: name, device: device), at: index)
        }
    }

    /// Removes the range that starts at `base`, then waits until every access that found it
    /// before has returned from the device. Returns whether there was one.
    ///
    /// Must not be called from inside an access to the same range (it would wait for itself).
    @discardableResult
    public func unregister(base: UInt64) -> Bool {
        let removed: Entry? = entries.withLock { list in
            let index = Self.insertionIndex(list, base)
            guard index < list.count, list[index].range.base == base else { return nil }
            return list.remove(at: index)
        }
        guard let removed else { return false }
        // Accesses are short (a device handler on the exit path): yield until they are done.
        while removed.inFlight.load(ordering: .acquiring) > 0 { sched_yield() }
        return true
    }

    /// The ranges in address order, with the names they were registered under.
    public var ranges: [(name: String, range: Range)] {
        entries.withLock { $0.map { ($0.name, $0.range) } }
    }

    /// Unclaimed accesses seen so far.
    public var unclaimedAccesses: Int { unclaimedLog.total }

    /// Reads `size` bytes at `address`: the device's value, or all ones when no device claims it.
    @inline(__always)
    public func read(_ address: UInt64, size: Int) -> UInt64 {
        if let (entry, offset) = lookup(address, size: size) {
            defer { entry.inFlight.subtract(1, ordering: .releasing) }
            return entry.device.read(offset: offset, size: size) & allOnes(size: size)
        }
        unclaimed("read", address, size, 0)
        return allOnes(size: size)
    }

    /// Writes `size` bytes of `value` at `address`; dropped when no device claims it.
    @inline(__always)
    public func write(_ address: UInt64, size: Int, value: UInt64) {
        if let (entry, offset) = lookup(address, size: size) {
            defer { entry.inFlight.subtract(1, ordering: .releasing) }
            entry.device.write(offset: offset, size: size, value: value & allOnes(size: size))
            return
        }
        unclaimed("write", address, size, value)
    }

    /// The range holding all of [address, address + size), counted as in flight (the caller
    /// subtracts 1 when the device returns), and the offset into it.
    @inline(__always)
    func lookup(_ address: UInt64, size: Int) -> (Entry, UInt64)? {
        entries.withLock { list in
            // Binary search for the last range with base <= address.
            var low = 0, high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid].range.base <= address { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { return nil }
            let entry = list[low - 1]
            let (accessLast, overflow) = address.addingReportingOverflow(UInt64(max(1, size)) - 1)
            guard !overflow, accessLast <= entry.range.last else { return nil }
            // Counted under the map's lock: an `unregister` that removes the entry after this
            // sees the count and waits for it.
            entry.inFlight.add(1, ordering: .relaxed)
            return (entry, address - entry.range.base)
        }
    }

    private func unclaimed(_ kind: String, _ address: UInt64, _ size: Int, _ value: UInt64) {
        unclaimedLog("unclaimed \(spaceName) \(kind)\(kind == "write" ? " of \(hex(value))" : "") (\(size) bytes) at \(hex(address))")
    }

    private static func insertionIndex(_ list: [Entry], _ base: UInt64) -> Int {
        var low = 0, high = list.count
        while low < high {
            let mid = (low + high) / 2
            if list[mid].range.base < base { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// Why a range could not be registered on a bus.
public enum BusError: Error, Equatable, CustomStringConvertible {
    case emptyRange(name: String, base: UInt64)
    case wrapsAround(name: String, base: UInt64, size: UInt64)
    case overlap(name: String, range: Bus.Range, existing: String, existingRange: Bus.Range)

    public var description: String {
        switch self {
        case let .emptyRange(name, base):
            "cannot register \(name) at \(hex(base)): size is 0"
        case let .wrapsAround(name, base, size):
            "cannot register \(name): \(hex(size)) bytes at \(hex(base)) wrap past the end of the address space"
        case let .overlap(name, range, existing, existingRange):
            "cannot register \(name) at \(range): overlaps \(existing) at \(existingRange)"
        }
    }
}
