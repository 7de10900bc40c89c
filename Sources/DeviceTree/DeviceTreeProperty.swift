/// One property read from a blob: its name, the path of its node and a copy of its value.
public struct DeviceTreeProperty: Sendable, Equatable {
    /// The property's name, e.g. `reg` or `#address-cells`.
    public let name: String
    /// Path of the node holding the property.
    public let node: String
    /// The raw value as stored (big-endian cells, NUL-terminated strings, ...).
    public let bytes: [UInt8]

    /// A property from its parts; `DeviceTreeBlob` makes these when it reads a blob.
    public init(name: String, node: String, bytes: [UInt8]) {
        self.name = name
        self.node = node
        self.bytes = bytes
    }

    /// Whether the property has no value (a flag such as `interrupt-controller`).
    public var isEmpty: Bool { bytes.isEmpty }

    /// The value as big-endian 32-bit cells. Throws `badValue` unless the length is a multiple of 4.
    public func cells() throws(DeviceTreeError) -> [UInt32] {
        guard bytes.count % 4 == 0 else {
            throw .badValue(property: name, node: node, reason: "\(bytes.count) bytes is not a whole number of 4-byte cells")
        }
        return stride(from: 0, to: bytes.count, by: 4).map { start in
            bytes[start..<start + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
    }

    /// The value as one cell.
    public func u32() throws(DeviceTreeError) -> UInt32 {
        let cells = try cells()
        guard cells.count == 1 else {
            throw .badValue(property: name, node: node, reason: "expected 1 cell, found \(cells.count)")
        }
        return cells[0]
    }

    /// The value as a 64-bit number in two cells, high cell first.
    public func u64() throws(DeviceTreeError) -> UInt64 {
        let cells = try cells()
        guard cells.count == 2 else {
            throw .badValue(property: name, node: node, reason: "expected 2 cells, found \(cells.count)")
        }
        return UInt64(cells[0]) << 32 | UInt64(cells[1])
    }

    /// The value as a list of NUL-terminated UTF-8 strings.
    public func strings() throws(DeviceTreeError) -> [String] {
        guard let last = bytes.last else {
            throw .badValue(property: name, node: node, reason: "empty, not a string")
        }
        guard last == 0 else {
            throw .badValue(property: name, node: node, reason: "the value does not end with a NUL byte")
        }
        var result: [String] = []
        for piece in bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false) {
            guard let string = String(validating: piece, as: UTF8.self) else {
                throw .badValue(property: name, node: node, reason: "string \(result.count) is not valid UTF-8")
            }
            result.append(string)
        }
        return result
    }

    /// The value as a single NUL-terminated UTF-8 string.
    public func string() throws(DeviceTreeError) -> String {
        let strings = try strings()
        guard strings.count == 1 else {
            throw .badValue(property: name, node: node, reason: "expected 1 string, found \(strings.count)")
        }
        return strings[0]
    }
}
