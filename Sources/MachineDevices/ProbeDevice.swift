import Devices
import Threads
import TextFormat

/// A device for testing the exit path: a write stores its value; a read returns the complement of
/// the last value written (in that space), truncated to the read's size. Every access is recorded
/// in a fixed ring of the last `capacity` accesses, with no allocation on the exit path.
///
/// The machine attaches one instance at the probe port block and one at the probe MMIO page.
public final class ProbeDevice: BusDevice {
    /// One recorded access.
    public struct Access: Equatable, Sendable, CustomStringConvertible {
        /// True for a write, false for a read.
        public var isWrite: Bool
        /// Bytes from the start of the device's range (port block or MMIO page).
        public var offset: UInt64
        /// Bytes accessed (1, 2 or 4 for ports; up to 8 for MMIO).
        public var size: Int
        /// The value written, or the value the read returned.
        public var value: UInt64
        /// An access with these values.
        public init(isWrite: Bool, offset: UInt64, size: Int, value: UInt64) {
            self.isWrite = isWrite; self.offset = offset; self.size = size; self.value = value
        }
        public var description: String {
            "\(isWrite ? "write" : "read")\(size * 8)(+\(hex(offset))) = \(hex(value))"
        }
    }

    struct State {
        var last: UInt64 = 0
        var ring: [Access]
        var total = 0
        /// Where the next access goes in `ring`: kept apart from `total` so that recording
        /// needs no division.
        var next = 0
    }

    /// How many accesses the ring keeps (at least 1).
    public let capacity: Int
    private let state: Locked<State>

    /// A probe that records its last `capacity` accesses (raised to 1 if smaller); the last
    /// value written starts at 0, so a first read returns all ones.
    public init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
        state = Locked(State(ring: Array(repeating: Access(isWrite: false, offset: 0, size: 0, value: 0), count: max(1, capacity))))
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { s in
            let value = ~s.last & allOnes(size: size)
            record(&s, Access(isWrite: false, offset: offset, size: size, value: value))
            return value
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        state.withLock { s in
            s.last = value
            record(&s, Access(isWrite: true, offset: offset, size: size, value: value))
        }
    }

    /// The last `capacity` accesses, oldest first.
    public var recentAccesses: [Access] {
        state.withLock { s in
            let n = min(s.total, capacity)
            return (0..<n).map { s.ring[(s.total - n + $0) % capacity] }
        }
    }

    @inline(__always)
    private func record(_ s: inout State, _ access: Access) {
        s.ring[s.next] = access
        s.next = s.next + 1 == capacity ? 0 : s.next + 1
        s.total += 1
    }
}
