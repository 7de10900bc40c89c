import TextFormat
/// The two structures an MSI-X function places in its BARs.
public enum MSIXStructure: String, Sendable, Equatable {
    /// The vector table: 16 bytes per vector (address, data, Vector Control).
    case table = "table"
    /// The Pending Bit Array: one bit per vector, in 64-bit words.
    case pba = "PBA"
}

/// Why an MSI-X set-up step was refused. Each message names the value that was refused.
///
/// Guest accesses never produce these: they are for the VMM's own configuration mistakes
/// (layout, capability placement, notifiers, snapshots). Guest mistakes are counted instead,
/// see `MSIXCounters`.
public enum MSIXError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The vector count is outside 1…2048 (the Table Size field holds N − 1 in 11 bits).
    case vectorCountOutOfRange(Int)
    /// A BAR Indicator Register value outside 0…5.
    case barIndexOutOfRange(structure: MSIXStructure, bar: Int)
    /// A structure offset whose low three bits are not zero (they hold the BIR in the register).
    case offsetMisaligned(structure: MSIXStructure, offset: UInt64)
    /// A structure offset that does not fit the 32-bit offset/BIR register.
    case offsetTooLarge(structure: MSIXStructure, offset: UInt64)
    /// The structure (vectors entries at offset, size bytes) ends past its BAR.
    case structureDoesNotFit(structure: MSIXStructure, vectors: Int, offset: UInt64, size: UInt64, bar: Int, barSize: UInt64)
    /// Table and PBA share a BAR and their byte ranges overlap.
    case structuresOverlap(bar: Int, tableOffset: UInt64, tableSize: UInt64, pbaOffset: UInt64, pbaSize: UInt64)
    /// The capability would sit in the standard header (below 0x40).
    case capabilityOffsetTooLow(Int)
    /// The capability offset is not a multiple of 4.
    case capabilityOffsetMisaligned(Int)
    /// The 12-byte capability does not end within the 256-byte configuration space.
    case capabilityDoesNotFit(Int)
    /// `setNotifiers` while notifiers are already installed.
    case notifiersAlreadySet
    /// `setNotifiers` was rolled back because the use notifier failed for `vector`.
    case useNotifierFailed(vector: Int, reason: String)
    /// A snapshot taken from a function of another shape.
    case snapshotMismatch(what: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .vectorCountOutOfRange(count):
            return "MSI-X vector count \(count) is outside 1…\(MSIXLayout.maximumVectors)"
        case let .barIndexOutOfRange(structure, bar):
            return "MSI-X \(structure.rawValue) BIR \(bar) is not a BAR (0–5)"
        case let .offsetMisaligned(structure, offset):
            return "MSI-X \(structure.rawValue) offset \(hex(offset)) is not 8-byte aligned"
        case let .offsetTooLarge(structure, offset):
            return "MSI-X \(structure.rawValue) offset \(hex(offset)) does not fit the 32-bit offset/BIR register"
        case let .structureDoesNotFit(structure, vectors, offset, size, bar, barSize):
            return "MSI-X \(structure.rawValue) (\(vectors) entries at \(hex(offset)), \(byteCount(size))) does not fit BAR \(bar) of \(byteCount(barSize))"
        case let .structuresOverlap(bar, tableOffset, tableSize, pbaOffset, pbaSize):
            return "MSI-X table (\(byteCount(tableSize)) at \(hex(tableOffset))) and PBA (\(byteCount(pbaSize)) at \(hex(pbaOffset))) overlap in BAR \(bar)"
        case let .capabilityOffsetTooLow(offset):
            return "MSI-X capability offset \(hex(offset)) is inside the standard header (below 0x40)"
        case let .capabilityOffsetMisaligned(offset):
            return "MSI-X capability offset \(hex(offset)) is not dword-aligned"
        case let .capabilityDoesNotFit(offset):
            return "MSI-X capability at \(hex(offset)) (12 bytes) does not fit the 256-byte configuration space"
        case .notifiersAlreadySet:
            return "MSI-X vector notifiers are already set"
        case let .useNotifierFailed(vector, reason):
            return "MSI-X use notifier failed for vector \(vector): \(reason); notifiers not set"
        case let .snapshotMismatch(what, expected, actual):
            return "MSI-X snapshot has \(actual) \(what), this function has \(expected)"
        }
    }
}
