/// Why building or reading a flattened device tree failed.
///
/// Every description names the operation or item that failed and the value involved, e.g.
/// `property "reg" of /memory@0: value 0x100000000 does not fit in 1 cell`.
public enum DeviceTreeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libfdt ran out of room (`FDT_ERR_NOSPACE`) and the writer may not grow its buffer further.
    case blobTooSmall(operation: String, capacity: Int)
    /// A node name that the devicetree specification does not allow (or a duplicate sibling).
    case badNodeName(String, reason: String)
    /// A property that cannot be written: bad name, duplicate, bad value, or written too late.
    case badProperty(name: String, node: String, reason: String)
    /// A memory reservation that is empty or wraps around the 64-bit address space.
    case badReservation(address: UInt64, size: UInt64, reason: String)
    /// A call made in the wrong order, found by the writer or by libfdt (`FDT_ERR_BADSTATE`).
    case badState(operation: String, reason: String)
    /// The first four bytes are not the device tree magic `0xD00DFEED`.
    case badMagic(found: UInt32)
    /// The blob is shorter than its header (or its header's `totalsize`) says.
    case truncated(needed: Int, available: Int)
    /// libfdt's checks found the blob inconsistent (bad version, layout, structure, strings, ...).
    case corruptBlob(operation: String, reason: String)
    /// No node at this path.
    case nodeNotFound(path: String)
    /// A path libfdt cannot parse (for example one not starting with `/`).
    case badPath(String, reason: String)
    /// The node exists but has no property of this name.
    case propertyNotFound(name: String, node: String)
    /// A property's bytes do not have the shape asked for (e.g. not a whole number of cells).
    case badValue(property: String, node: String, reason: String)
    /// Any other libfdt failure: the call, libfdt's code and its `fdt_strerror` text.
    case `internal`(operation: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case let .blobTooSmall(operation, capacity):
            return "\(operation) failed: the device tree does not fit in \(capacity) bytes (FDT_ERR_NOSPACE)"
        case let .badNodeName(name, reason):
            return "bad node name \"\(name)\": \(reason)"
        case let .badProperty(name, node, reason):
            return "property \"\(name)\" of \(node): \(reason)"
        case let .badReservation(address, size, reason):
            return "memory reservation of \(hex(size)) bytes at \(hex(address)): \(reason)"
        case let .badState(operation, reason):
            return "\(operation) called in the wrong state: \(reason)"
        case let .badMagic(found):
            return "not a device tree blob: magic is \(hex32(found)), expected 0xD00DFEED"
        case let .truncated(needed, available):
            return "device tree blob truncated: needs \(needed) bytes, only \(available) given"
        case let .corruptBlob(operation, reason):
            return "corrupt device tree blob: \(operation) reports \(reason)"
        case let .nodeNotFound(path):
            return "no node at path \"\(path)\""
        case let .badPath(path, reason):
            return "bad node path \"\(path)\": \(reason)"
        case let .propertyNotFound(name, node):
            return "node \(node) has no property \"\(name)\""
        case let .badValue(property, node, reason):
            return "property \"\(property)\" of \(node): \(reason)"
        case let .internal(operation, code, message):
            return "\(operation) failed: libfdt error \(code) \(message)"
        }
    }
}

/// `0x` followed by upper-case hex digits.
func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16, uppercase: true)
}

/// `0x` followed by exactly eight upper-case hex digits.
func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
