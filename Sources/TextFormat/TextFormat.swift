// Small text helpers the modules share for messages and reports (no Foundation).

/// "0x1f" (lower-case hex; "-0x1f" for a negative value).
public func hex<T: BinaryInteger>(_ value: T) -> String {
    value < 0 ? "-0x" + String(value.magnitude, radix: 16) : "0x" + String(value, radix: 16)
}

/// A byte count in the largest binary unit that divides it: "1 GiB", "64 MiB", "4 KiB",
/// "1 byte", "123 bytes".
public func byteCount(_ bytes: UInt64) -> String {
    if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30) GiB" }
    if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
    return bytes == 1 ? "1 byte" : "\(bytes) bytes"
}

/// `text` as a JSON string literal, quotes included: `"`, `\` and control characters escaped.
public func jsonStringLiteral(_ text: String) -> String {
    // Byte by byte: every byte that needs escaping is ASCII, and the bytes of a multi-byte
    // character are all 0x80 or above, so those are copied as they are.
    let backslash = UInt8(ascii: "\\")
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count + 2)
    out.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""), backslash: out.append(backslash); out.append(byte)
        case UInt8(ascii: "\n"): out.append(backslash); out.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): out.append(backslash); out.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): out.append(backslash); out.append(UInt8(ascii: "t"))
        case ..<0x20:
            out.append(backslash)
            out.append(UInt8(ascii: "u"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0") + (byte >> 4))
            let low = byte & 0xF
            out.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
    return String(decoding: out, as: UTF8.self)
}

/// `text` escaped for XML 1.0 text and attribute values. Characters XML 1.0 forbids (control
/// characters other than tab, newline and carriage return; U+FFFE, U+FFFF) become "?", since a
/// guest may print anything.
public func xmlEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\n", "\t", "\r": out.unicodeScalars.append(scalar)
        default:
            if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) { out += "?" } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out
}
