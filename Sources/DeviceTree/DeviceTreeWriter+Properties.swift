/// Typed property values. Each encodes to bytes (cells big-endian, strings NUL-terminated
/// UTF-8) and goes through `property(_:bytes:)`, which calls libfdt's `fdt_property`.
extension DeviceTreeWriter {
    /// One cell: `name = <value>;`.
    public mutating func property(_ name: String, u32 value: UInt32) throws(DeviceTreeError) {
        try property(name, cells: [value])
    }

    /// Cells: `name = <a b c>;`.
    public mutating func property(_ name: String, cells: [UInt32]) throws(DeviceTreeError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(cells.count * 4)
        for cell in cells {
            bytes.append(UInt8(truncatingIfNeeded: cell >> 24))
            bytes.append(UInt8(truncatingIfNeeded: cell >> 16))
            bytes.append(UInt8(truncatingIfNeeded: cell >> 8))
            bytes.append(UInt8(truncatingIfNeeded: cell))
        }
        try property(name, bytes: bytes)
    }

    /// A 64-bit number as two cells, high cell first: `name = <hi lo>;`.
    public mutating func property(_ name: String, u64 value: UInt64) throws(DeviceTreeError) {
        try property(name, cellValues: [.u64(value)])
    }

    /// Numbers of mixed widths, e.g. a PCI `ranges` entry `<flags pci-address cpu-address size>`.
    /// A value too large for its cells is a `badProperty` error naming the value.
    public mutating func property(_ name: String, cellValues: [CellValue]) throws(DeviceTreeError) {
        var cells: [UInt32] = []
        cells.reserveCapacity(2 * cellValues.count)
        for value in cellValues {
            if let problem = value.append(to: &cells) {
                throw .badProperty(name: name, node: currentPath ?? "(no node)", reason: problem.text)
            }
        }
        try property(name, cells: cells)
    }

    /// A string: `name = "value";`. The string must not contain NUL.
    public mutating func property(_ name: String, string: String) throws(DeviceTreeError) {
        try property(name, strings: [string])
    }

    /// A string list: `name = "a", "b";` (each string NUL-terminated, back to back).
    public mutating func property(_ name: String, strings: [String]) throws(DeviceTreeError) {
        guard !strings.isEmpty else {
            throw .badProperty(name: name, node: currentPath ?? "(no node)", reason: "an empty string list; use emptyProperty(_:) for a flag")
        }
        var bytes: [UInt8] = []
        for (index, string) in strings.enumerated() {
            if let nul = string.utf8.firstIndex(of: 0) {
                let offset = string.utf8.distance(from: string.utf8.startIndex, to: nul)
                throw .badProperty(name: name, node: currentPath ?? "(no node)", reason: "string \(index) contains a NUL byte at offset \(offset)")
            }
            bytes.append(contentsOf: string.utf8)
            bytes.append(0)
        }
        try property(name, bytes: bytes)
    }

    /// A property without a value, a flag such as `interrupt-controller;`.
    public mutating func emptyProperty(_ name: String) throws(DeviceTreeError) {
        try property(name, bytes: [])
    }

    /// `reg` with one (address, size) pair per region, each in as many cells as the parent's
    /// `#address-cells` / `#size-cells` (as written with this writer; the specification's
    /// defaults 2 and 1 when the parent wrote none).
    public mutating func reg(_ regions: [(address: UInt64, size: UInt64)]) throws(DeviceTreeError) {
        let (addressCells, sizeCells) = try parentCells(for: "reg")
        var values: [CellValue] = []
        values.reserveCapacity(2 * regions.count)
        for region in regions {
            values.append(CellValue(region.address, count: addressCells))
            values.append(CellValue(region.size, count: sizeCells))
        }
        try property("reg", cellValues: values)
    }

    /// `reg` of a single region.
    public mutating func reg(address: UInt64, size: UInt64) throws(DeviceTreeError) {
        try reg([(address: address, size: size)])
    }
}
