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
    }

    @Test func xmlEscapingReplacesWhatXMLForbids() {
        #expect(xmlEscaped("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;")
        #expect(xmlEscaped("ok\n\t\u{1}\u{FFFE}") == "ok\n\t??")
    }
}
