import TestSupport
import TextFormat
import Testing

@Suite struct TextFormatTests {
    @Test func hexAndByteCounts() {
        #expect(hex(0xFEE0_0000 as UInt64) == "0xfee00000")
        #expect(hex(-16) == "-0x10")
        #expect(byteCount(1 << 30) == "1 GiB")
        #expect(byteCount(64 << 20) == "64 MiB")
        #expect(byteCount(0x3000) == "12 KiB")
        #expect(byteCount(1) == "1 byte")
        #expect(byteCount(1025) == "1025 bytes")
    }

    @Test func jsonLiteralsEscapeQuotesBackslashesAndControls() {
        #expect(jsonStringLiteral("a\"b\\c\nd\u{1}") == "\"a\\\"b\\\\c\\nd\\u0001\"")
        #expect(jsonStringLiteral("é✓") == "\"é✓\"")
        #expect(jsonStringLiteral("\u{1F}\u{8}\u{7F}") == "\"\\u001f\\u0008\u{7F}\"")
    }

    /// Random strings of ASCII (every control character), two-, three- and four-byte characters,
    /// against the definition written scalar by scalar.
    @Test(arguments: testSeeds([41, 42, 43]))
    func jsonLiteralsMatchTheirDefinition(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let pool: [Unicode.Scalar] = (0..<0x80).map { Unicode.Scalar(UInt8($0)) } + ["é", "✓", "\u{FFFD}", "\u{1F600}"]
        for _ in 0..<500 {
            var text = ""
            for _ in 0..<Int.random(in: 0...24, using: &random) { text.unicodeScalars.append(pool.randomElement(using: &random)!) }
            #expect(jsonStringLiteral(text) == Self.literal(text), "\(replayHint(seed)): \(Array(text.utf8))")
        }
    }

    private static func literal(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    @Test func xmlEscapingReplacesWhatXMLForbids() {
        #expect(xmlEscaped("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;")
        #expect(xmlEscaped("ok\n\t\u{1}\u{FFFE}") == "ok\n\t??")
    }
}
