/// Why the interrupt plumbing could not do what was asked, naming the value.
public enum InterruptError: Error, Equatable, CustomStringConvertible {
    /// Every GSI the routing table can hold is taken.
    case routesExhausted(capacity: Int)
    /// A GSI that is not allocated was freed or routed (a double free, or a GSI never handed out).
    case gsiNotAllocated(UInt32)
    /// A vector number outside the router's range.
    case vectorOutOfRange(vector: Int, count: Int)

    public var description: String {
        switch self {
        case let .routesExhausted(capacity):
            "the KVM GSI routing table is full (\(capacity) MSI routes)"
        case let .gsiNotAllocated(gsi):
            "GSI \(gsi) is not allocated"
        case let .vectorOutOfRange(vector, count):
            count > 0 ? "vector \(vector) is out of range 0…\(count - 1)" : "vector \(vector) does not exist (the device has no vectors)"
        }
    }
}
