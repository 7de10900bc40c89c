/// A number written as `count` big-endian 32-bit cells, most significant cell first.
///
/// Device tree addresses and sizes take as many cells as the parent's `#address-cells` /
/// `#size-cells` say; PCI addresses add a cell of flags. A value that does not fit its cells
/// is an error when written, never silently cut.
///
/// ```
/// CellValue(0x1_C000_0000, count: 2)  →  <0x01 0xc0000000>
/// CellValue(0x3F8, count: 1)          →  <0x3f8>
/// ```
public struct CellValue: Sendable, Equatable {
    /// The number. Writing it fails unless it fits in `count` cells (at most 0xFFFF_FFFF in one
    /// cell, only 0 in zero cells).
    public var value: UInt64
    /// Number of cells, 0…2. Zero cells hold only the value 0 (e.g. `#size-cells = <0>`).
    public var count: Int

    /// `value` in `count` cells; the fit is checked only when the value is written.
    public init(_ value: UInt64, count: Int) {
        self.value = value
        self.count = count
    }

    /// One cell.
    public static func u32(_ value: UInt32) -> CellValue { CellValue(UInt64(value), count: 1) }
    /// Two cells.
    public static func u64(_ value: UInt64) -> CellValue { CellValue(value, count: 2) }

    /// Appends the value's big-endian cells (most significant first) to `cells`; returns why
    /// it cannot be encoded instead, appending nothing.
    func append(to cells: inout [UInt32]) -> CellProblem? {
        switch count {
        case 0:
            return value == 0 ? nil : .doesNotFit(value, count)
        case 1:
            guard let cell = UInt32(exactly: value) else { return .doesNotFit(value, count) }
            cells.append(cell)
            return nil
        case 2:
            cells.append(UInt32(truncatingIfNeeded: value >> 32))
            cells.append(UInt32(truncatingIfNeeded: value))
            return nil
        default:
            return .badCount(count)
        }
    }

    enum CellProblem {
        case doesNotFit(UInt64, Int)
        case badCount(Int)

        var text: String {
            switch self {
            case let .doesNotFit(value, count):
                return "value \(hex(value)) does not fit in \(count) cell\(count == 1 ? "" : "s")"
            case let .badCount(count):
                return "\(count) cells requested; only 0, 1 or 2 cells per number are supported"
            }
        }
    }
}
