/// The MSI-X capability structure in configuration space (12 bytes, dword aligned).
///
/// ```
///  byte  31            24 23            16 15             8 7              0
///  0x0  |       Message Control          | Next Pointer   | Cap ID = 0x11  |
///  0x4  |               Table Offset (31:3)                       |Tbl BIR |
///  0x8  |                PBA Offset (31:3)                        |PBA BIR |
/// ```
/// Only Message Control bits 14 and 15 are writable; everything else is read-only. The Next
/// Pointer belongs to the PCI layer's capability list: the module shows the value it was given.
public enum MSIXCapability {
    /// PCI capability ID of MSI-X.
    public static let id: UInt8 = 0x11
    /// Bytes the capability takes.
    public static let length = 12
    /// Offset of Message Control in the capability.
    public static let messageControlOffset = 2
    /// Offset of the Table Offset/BIR register.
    public static let tableOffset = 4
    /// Offset of the PBA Offset/BIR register.
    public static let pbaOffset = 8
    /// The capability may not sit in the standard header.
    public static let lowestOffset = 0x40
    /// Size of PCI (not PCIe extended) configuration space.
    public static let configurationSpaceSize = 256

    /// Checks a capability offset: ≥ 0x40, dword aligned, 12 bytes within 256.
    public static func validate(offset: Int) throws(MSIXError) {
        guard offset >= lowestOffset else { throw .capabilityOffsetTooLow(offset) }
        guard offset % 4 == 0 else { throw .capabilityOffsetMisaligned(offset) }
        guard offset <= configurationSpaceSize - length else { throw .capabilityDoesNotFit(offset) }
    }
}

/// Message Control, the 16-bit register at byte 2 of the capability.
///
/// ```
///   15    14    13   11 10                     0
/// +-----+-----+--------+------------------------+
/// | En  | FM  |  rsvd  |  Table Size (N − 1)    |
/// +-----+-----+--------+------------------------+
///   RW    RW     RO 0          RO
/// ```
/// En (MSI-X Enable) and FM (Function Mask, "mask all") are the only writable bits, both in the
/// high byte (capability byte 3). The function is masked when `!enable || functionMask`.
public struct MSIXMessageControl: Sendable, Equatable {
    /// MSI-X Enable: bit 15 of the register (bit 7 of capability byte 3).
    public static let enableBit: UInt16 = 1 << 15
    /// Function Mask: bit 14 of the register (bit 6 of capability byte 3).
    public static let functionMaskBit: UInt16 = 1 << 14
    /// The read-only Table Size field, bits 10:0, which holds N − 1 for N vectors.
    public static let tableSizeMask: UInt16 = 0x07FF

    /// N − 1.
    public let tableSizeField: UInt16
    /// MSI-X Enable (bit 15).
    public var enable: Bool
    /// Function Mask (bit 14).
    public var functionMask: Bool

    init(vectorCount: Int) {
        tableSizeField = UInt16(truncatingIfNeeded: vectorCount - 1) & Self.tableSizeMask
        enable = false
        functionMask = false
    }

    /// Every vector behaves as masked: MSI-X disabled or the function mask set.
    public var masksFunction: Bool { !enable || functionMask }

    /// The register as the guest reads it.
    public var rawValue: UInt16 {
        tableSizeField | (enable ? Self.enableBit : 0) | (functionMask ? Self.functionMaskBit : 0)
    }
}
