#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Threads
import TextFormat

/// An address-range map of devices: one instance for port I/O, one for MMIO.
///
/// Ranges are kept sorted and may not overlap; lookup is a binary search. An access is routed to a
/// device only when it lies wholly inside the device's range. Unclaimed reads return all ones and
/// unclaimed writes are dropped; both are counted and logged at a limited rate.
/// Registration may happen while vCPUs run (BAR relocation). The exit path takes no lock: the
/// map is an immutable sorted array that a change replaces whole (changes are serialised by a
/// mutex of their own). A lookup counts itself in `readers` while it holds the current map, so a
/// change frees the map it replaced only once no lookup can still be reading it; and each range
/// counts the accesses running in it, so `unregister` can wait until none is: once it returns,
/// the device gets no more calls through that range.
public final class Bus: Sendable {
    /// One registered range. `last` is inclusive so a range may end at the top of the address space.
    public struct Range: Sendable, Equatable, CustomStringConvertible {
        /// The first address of the range (a port number on the port bus, a guest-physical address
        /// on the MMIO bus).
        public let base: UInt64
        /// The last address of the range, inclusive.
        public let last: UInt64
        /// The length of the range: bytes on the MMIO bus, ports on the port bus.
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
    /// The sorted ranges: an immutable array, replaced whole by each change.
    final class Map: Sendable {
        let entries: [Entry]
        /// What a lookup reads: each entry's range and an unretained reference to it, in one
        /// flat buffer, so the exit path touches few cache lines and retains nothing. `entries`
        /// keeps every referenced entry alive for as long as this map lives.
        struct Slot {
            let base: UInt64
            let last: UInt64
            let entry: Unmanaged<Entry>
        }
        nonisolated(unsafe) let slots: UnsafeMutableBufferPointer<Slot>

        init(_ entries: [Entry]) {
            self.entries = entries
            slots = .allocate(capacity: entries.count)
            for (index, entry) in entries.enumerated() {
                (slots.baseAddress! + index).initialize(to: Slot(base: entry.range.base, last: entry.range.last, entry: .passUnretained(entry)))
            }
        }

        deinit { slots.deallocate() }
    }

    /// The current map, retained once by this bus; lookups read it without retaining it.
    private let current: Atomic<Unmanaged<Map>>
    /// Lookups between loading `current` and being done with the map.
    private let readers = Atomic<Int>(0)
    /// Serialises changes of the map.
    private let changes = Locked(())
    private let unclaimedLog: RateLimitedLog

    /// Makes an empty bus for one address space.
    ///
    /// - Parameters:
    ///   - spaceName: how messages name this space ("port", "MMIO").
    ///   - unclaimedLogLimit: unclaimed accesses logged before going quiet (later ones are only counted).
    ///   - log: where those messages go.
    public init(spaceName: String, unclaimedLogLimit: Int = 8, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.spaceName = spaceName
        unclaimedLog = RateLimitedLog(limit: unclaimedLogLimit, sink: log)
        current = Atomic(Unmanaged.passRetained(Map([])))
    }

    deinit {
        current.load(ordering: .acquiring).release()
    }

    /// Replaces the map with `change(entries)`: under the change mutex, then waits until no lookup
    /// can still hold the old map and releases it.
    private func change<T, E: Error>(_ body: (inout [Entry]) throws(E) -> T) throws(E) -> T {
        try changes.withLock { (_: inout ()) throws(E) -> T in
            let old = current.load(ordering: .acquiring)
            var list = old.takeUnretainedValue().entries
            let result = try body(&list)
            current.store(Unmanaged.passRetained(Map(list)), ordering: .sequentiallyConsistent)
            // A lookup that counted itself before this load may still read the old map; one that
            // counts itself after it loads the new one (both sequentially consistent).
            while readers.load(ordering: .sequentiallyConsistent) != 0 { sched_yield() }
            old.release()
            return result
        }
    }

    private var snapshot: [Entry] {
        readers.add(1, ordering: .sequentiallyConsistent)
        defer { readers.subtract(1, ordering: .releasing) }
        return current.load(ordering: .sequentiallyConsistent).takeUnretainedValue().entries
    }

    /// Adds `device` at [base, base + size). Refuses empty, wrapping and overlapping ranges.
    public func register(_ device: any BusDevice, name: String, base: UInt64, size: UInt64) throws(BusError) {
        guard size > 0 else { throw .emptyRange(name: name, base: base) }
        let (last, overflow) = base.addingReportingOverflow(size - 1)
        guard !overflow else { throw .wrapsAround(name: name, base: base, size: size) }
        let range = Range(base: base, last: last)
        try change { (list: inout [Entry]) throws(BusError) in
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
        let removed: Entry? = change { list in
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
        snapshot.map { ($0.name, $0.range) }
    }

    /// Unclaimed accesses seen so far.
    public var unclaimedAccesses: Int { unclaimedLog.total }

    /// Reads `size` bytes at `address`: the device's value, or all ones when no device claims it.
    @inline(__always)
    public func read(_ address: UInt64, size: Int) -> UInt64 {
        if let (entry, offset) = lookup(address, size: size) {
            return entry._withUnsafeGuaranteedRef { entry in
                let value = entry.device.read(offset: offset, size: size) & allOnes(size: size)
                // The last touch of the entry: once the count is down, `unregister` may free it.
                entry.inFlight.subtract(1, ordering: .releasing)
                return value
            }
        }
        unclaimed("read", address, size, 0)
        return allOnes(size: size)
    }

    /// Writes `size` bytes of `value` at `address`; dropped when no device claims it.
    @inline(__always)
    public func write(_ address: UInt64, size: Int, value: UInt64) {
        if let (entry, offset) = lookup(address, size: size) {
            entry._withUnsafeGuaranteedRef { entry in
                entry.device.write(offset: offset, size: size, value: value & allOnes(size: size))
                entry.inFlight.subtract(1, ordering: .releasing)
            }
            return
        }
        unclaimed("write", address, size, value)
    }

    /// The range holding all of [address, address + size), counted as in flight (the caller
    /// subtracts 1 when the device returns), and the offset into it. The entry is not retained:
    /// the in-flight count keeps it alive (an `unregister` that removes it holds it until the
    /// count is 0; any other change keeps it in the new map).
    @inline(__always)
    func lookup(_ address: UInt64, size: Int) -> (Unmanaged<Entry>, UInt64)? {
        readers.add(1, ordering: .sequentiallyConsistent)
        defer { readers.subtract(1, ordering: .releasing) }
        // In bounds for as long as `readers` counts this lookup: no change releases the map then.
        return current.load(ordering: .sequentiallyConsistent)._withUnsafeGuaranteedRef { map in
            let slots = map.slots
            // Binary search for the last range with base <= address.
            var low = 0, high = slots.count
            while low < high {
                let mid = (low + high) / 2
                if slots[mid].base <= address { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { return nil }
            let slot = slots[low - 1]
            let (accessLast, overflow) = address.addingReportingOverflow(UInt64(max(1, size)) - 1)
            guard !overflow, accessLast <= slot.last else { return nil }
            // Counted while the map is held: an `unregister` that removes the entry waits for
            // the lookups on the old map (readers) and then for this count.
            _ = slot.entry._withUnsafeGuaranteedRef { $0.inFlight.add(1, ordering: .relaxed) }
            return (slot.entry, address - slot.base)
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
    /// The device `name` was given a size of 0 at `base`.
    case emptyRange(name: String, base: UInt64)
    /// The `size` bytes of device `name` starting at `base` run past the end of the 64-bit space.
    case wrapsAround(name: String, base: UInt64, size: UInt64)
    /// The requested `range` of device `name` overlaps `existingRange`, already registered
    /// under the name `existing`.
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
