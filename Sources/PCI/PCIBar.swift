/// A Base Address Register's shape, fixed by the device: its space, width and power-of-two size.
///
/// ```
///  memory BAR:  31 … 4 address | 3 prefetchable | 2:1 type (00 = 32-bit, 10 = 64-bit) | 0 = 0
///  I/O BAR:     31 … 2 address | 1 reserved | 0 = 1
/// ```
/// Sizing: the guest writes all ones and reads back the address bits that stay 0 (the size mask)
/// with the type bits. A 64-bit BAR takes two registers; the second holds the high half.
public struct PCIBarDefinition: Sendable, Equatable {
    /// The address space and width of a BAR.
    public enum Kind: Sendable, Equatable {
        /// Memory space, one register: mapped below 4 GiB, at most 2 GiB.
        case memory32
        /// Memory space, two registers (the second holds bits 63:32): at most 2^62 bytes, and
        /// mapped only while it lies wholly below 2^48.
        case memory64
        /// I/O port space, one register: at most 256 ports, mapped below port 0x10000.
        case io
    }

    /// The BAR's space and width.
    public let kind: Kind
    /// The BAR's size in bytes (ports for I/O): a power of two, which is also its alignment.
    public let size: UInt64
    /// The prefetchable bit (bit 3) the BAR register shows; always false for an I/O BAR.
    public let prefetchable: Bool

    /// Describes a BAR; throws `PCIError.badBarSize` when `size` does not fit `kind`.
    ///
    /// - Parameters:
    ///   - kind: the BAR's space and width.
    ///   - size: a power of two: at least 16 bytes for memory, 4 for I/O (at most 256 for I/O,
    ///     2 GiB for a 32-bit memory BAR, 2^62 bytes for a 64-bit one).
    ///   - prefetchable: whether the register shows the prefetchable bit; ignored for I/O.
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
