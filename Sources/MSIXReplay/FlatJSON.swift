/// A reader for the one shape of JSON the trace format uses: a single flat object whose values
/// are integers, booleans or strings. Anything else (arrays, nested objects, null, fractions,
/// exponents, duplicate keys, trailing text) is refused with a message naming the column.

/// A JSON integer of any sign whose magnitude fits 64 bits.
public struct JSONInteger: Sendable, Equatable, CustomStringConvertible {
    /// Whether the value is below zero; never true when `magnitude` is 0 (`-0` reads as 0).
    public var isNegative: Bool
    /// The absolute value, 0…2⁶⁴ − 1.
    public var magnitude: UInt64

    /// The integer −`magnitude` or +`magnitude`; a sign on 0 is dropped.
    public init(isNegative: Bool, magnitude: UInt64) {
        self.isNegative = isNegative && magnitude != 0
        self.magnitude = magnitude
    }

    /// The value if it fits an `Int`.
    public var intValue: Int? {
        if isNegative {
            return magnitude <= UInt64(Int.max) + 1 ? Int(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int.max) ? Int(magnitude) : nil
    }

    /// The value if it is not negative.
    public var unsignedValue: UInt64? { isNegative ? nil : magnitude }

    public var description: String { (isNegative ? "-" : "") + String(magnitude) }
}

/// One value of a flat object.
public enum JSONScalar: Sendable, Equatable {
    /// A number with no fraction or exponent and no leading zeros, whose magnitude fits 64 bits.
    case integer(JSONInteger)
    /// `true` or `false`.
    case bool(Bool)
    /// A string with its escapes decoded (`\uXXXX` included, surrogate pairs joined).
    case string(String)
}

/// Why a line is not a flat JSON object.
public struct FlatJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based column (in UTF-8 bytes) where reading stopped.
    public var column: Int
    /// What is wrong there, e.g. `duplicate key "op"` or `numbers must be integers`.
    public var reason: String

    public var description: String { "bad JSON at column \(column): \(reason)" }
}

/// Parses `text` as one flat JSON object.
public func parseFlatJSONObject(_ text: String) throws(FlatJSONError) -> [String: JSONScalar] {
    var reader = FlatJSONReader(bytes: Array(text.utf8))
    return try reader.object()
}

private struct FlatJSONReader {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ reason: String) -> FlatJSONError {
        FlatJSONError(column: index + 1, reason: reason)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            index += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(FlatJSONError) {
        guard current == byte else { throw fail(current == nil ? "expected \(what), found the end of the line" : "expected \(what)") }
        index += 1
    }

    mutating func object() throws(FlatJSONError) -> [String: JSONScalar] {
        skipWhitespace()
        try expect(UInt8(ascii: "{"), "'{' (a line is one JSON object)")
        var fields: [String: JSONScalar] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                let keyColumn = index
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':' after a key")
                skipWhitespace()
                let value = try scalar()
                guard fields.updateValue(value, forKey: key) == nil else {
                    throw FlatJSONError(column: keyColumn + 1, reason: "duplicate key \"\(key)\"")
                }
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                break
            }
        }
        skipWhitespace()
        guard current == nil else { throw fail("unexpected text after the object") }
        return fields
    }

    private mutating func scalar() throws(FlatJSONError) -> JSONScalar {
        guard let byte = current else { throw fail("expected a value, found the end of the line") }
        switch byte {
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .integer(try integer())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            throw fail("null is not supported (values are integers, booleans or strings)")
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            throw fail("nested arrays and objects are not supported (values are integers, booleans or strings)")
        default:
            throw fail("expected a value")
        }
    }

    private mutating func literal(_ word: String) throws(FlatJSONError) {
        for expected in word.utf8 {
            guard current == expected else { throw fail("expected '\(word)'") }
            index += 1
        }
    }

    private mutating func integer() throws(FlatJSONError) -> JSONInteger {
        var negative = false
        if current == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard let first = current, first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") else {
            throw fail("expected a digit")
        }
        let start = index
        var magnitude: UInt64 = 0
        while let byte = current, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1 && !o2 else { throw FlatJSONError(column: start + 1, reason: "integer does not fit 64 bits") }
            magnitude = sum
            index += 1
        }
        if first == UInt8(ascii: "0") && index - start > 1 {
            throw FlatJSONError(column: start + 1, reason: "leading zeros are not allowed")
        }
        if let byte = current, byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw fail("numbers must be integers")
        }
        return JSONInteger(isNegative: negative, magnitude: magnitude)
    }

    private mutating func string() throws(FlatJSONError) -> String {
        index += 1  // the opening quote
        // Most strings have no escape: they are the bytes up to the closing quote.
        let start = index
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 {
            index += 1
        }
        if current == UInt8(ascii: "\"") {
            index += 1
            return String(decoding: bytes[start..<index - 1], as: UTF8.self)
        }
        var utf8 = Array(bytes[start..<index])
        while true {
            guard let byte = current else { throw fail("unterminated string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escape = current else { throw fail("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard current == UInt8(ascii: "\\") else { throw fail("unpaired surrogate in \\u escape") }
                        index += 1
                        guard current == UInt8(ascii: "u") else { throw fail("unpaired surrogate in \\u escape") }
                        index += 1
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    utf8.append(contentsOf: String(Character(unicode)).utf8)
                default:
                    throw FlatJSONError(column: index, reason: "invalid escape in string")
                }
            default:
                guard byte >= 0x20 else { throw FlatJSONError(column: index, reason: "control character in string") }
                utf8.append(byte)
            }
        }
    }

    private mutating func hex4() throws(FlatJSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw fail("expected 4 hex digits after \\u") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("expected 4 hex digits after \\u")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}
