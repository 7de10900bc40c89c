/// The naming rules of the Devicetree Specification (v0.4, §2.2.1 and §2.2.4).
///
/// libfdt's sequential-write functions copy names as they are, so the writer checks them here:
/// a blob it produces is always one that `dtc` and guests can parse.
enum DeviceTreeNames {
    /// Longest node-name part (before `@`) and longest property name.
    static let maximumLength = 31

    /// Characters allowed in a node name and in a unit address: `0-9 a-z A-Z , . _ + -`.
    static func isNodeCharacter(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }

    /// Characters allowed in a property name: those of node names plus `?` and `#`.
    static func isPropertyCharacter(_ byte: UInt8) -> Bool {
        isNodeCharacter(byte) || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#")
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    /// Why `name` is not a valid non-root node name (`name` or `name@unit-address`), or nil.
    static func problem(withNodeName name: String) -> String? {
        let utf8 = name.utf8
        guard !utf8.isEmpty else { return "only the root node has an empty name" }
        let at = utf8.firstIndex(of: UInt8(ascii: "@"))
        let base = utf8[..<(at ?? utf8.endIndex)]
        guard !base.isEmpty else { return "the part before '@' is empty" }
        guard base.count <= maximumLength else {
            return "the part before '@' has \(base.count) characters, at most \(maximumLength) allowed"
        }
        guard let first = base.first, isAlphanumeric(first), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return "it must start with a letter"
        }
        if let bad = base.first(where: { !isNodeCharacter($0) }) {
            return "character \(describe(bad)) is not allowed (only 0-9 a-z A-Z , . _ + -)"
        }
        if let at {
            let unit = utf8[utf8.index(after: at)...]
            guard !unit.isEmpty else { return "the unit address after '@' is empty" }
            if let bad = unit.first(where: { !isNodeCharacter($0) }) {
                return "character \(describe(bad)) is not allowed in a unit address"
            }
        }
        return nil
    }

    /// Why `name` is not a valid property name, or nil.
    static func problem(withPropertyName name: String) -> String? {
        let utf8 = name.utf8
        guard !utf8.isEmpty else { return "the name is empty" }
        guard utf8.count <= maximumLength else {
            return "the name has \(utf8.count) characters, at most \(maximumLength) allowed"
        }
        if let bad = utf8.first(where: { !isPropertyCharacter($0) }) {
            return "character \(describe(bad)) is not allowed in a property name (only 0-9 a-z A-Z , . _ + ? # -)"
        }
        return nil
    }

    private static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "0x" + String(byte, radix: 16, uppercase: true)
    }
}
