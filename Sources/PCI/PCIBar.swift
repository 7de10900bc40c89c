/// A Base Address Register's shape, fixed by the device: its space, width and power-of-two size.
///
/// ```
///  memory BAR:  31 … 4 address | 3 prefetchable | 2:1 type (00 = 32-bit, 10 = 64-bit) | 0 = 0
///  I/O BAR:     31 … 2 address | 1 reserved | 0 = 1
/// ```
/// Sizing: the guest writes all ones and reads back the address bits that stay 0 (the size mask)
/// with the type bits. A 64-bit BAR takes two registers; the second holds the high half.
public struct PCIBarDefinition: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case memory32
        case memory64
        case io
    }

    public let kind: Kind
    public let size: UInt64
    public let prefetchable: Bool

    /// - Parameter size: a power of two: at least 16 bytes for memory, 4 for I/O (at most 256 for I/O).
    public init(kind: Kind, size: UInt64, prefetchable: Bool = false) throws(PCIError) {
        let minimum: UInt64 = kind == .io ? 4 : 16
        let maximum: UInt64 = switch kind {
        case .io: 256
        case .memory32: 1 << 31
        case .memory64: 1 << 62
        }
        guard size.nonzeroBitCount == 1, size >= minimum, size <= maximum else {
            throw .badBarSize(size: size, minimum: minimum, maximum: maximum)
        }
        self.kind = kind
        self.size = size
        self.prefetchable = prefetchable && kind != .io
    }

    /// The low bits of the (first) BAR register that encode the type; read-only.
    var typeBits: UInt32 {
        switch kind {
        case .io: 0x1
        case .memory32: prefetchable ? 0x8 : 0x0
        case .memory64: (prefetchable ? 0x8 : 0x0) | 0x4
        }
    }

    /// How many BAR registers it takes.
    public var registerCount: Int { kind == .memory64 ? 2 : 1 }
}
