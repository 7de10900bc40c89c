import MSIXReplay
import Testing

@Suite("Flat JSON reader")
struct FlatJSONTests {
    @Test("reads flat objects of integers, booleans and strings, with any whitespace")
    func reads() throws {
        let fields = try parseFlatJSONObject(" {\t\"op\" : \"bar_write\", \"offset\":2048,\"neg\":-5,\"big\":18446744073709551615, \"poll\":true,\"x\":false , \"s\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\\n\"}  ")
        #expect(fields["op"] == .string("bar_write"))
        #expect(fields["offset"] == .integer(JSONInteger(isNegative: false, magnitude: 2048)))
        #expect(fields["neg"] == .integer(JSONInteger(isNegative: true, magnitude: 5)))
        #expect(fields["big"] == .integer(JSONInteger(isNegative: false, magnitude: UInt64.max)))
        #expect(fields["poll"] == .bool(true))
        #expect(fields["x"] == .bool(false))
        #expect(fields["s"] == .string("a\"b\\cé😀\n"))
        #expect(try parseFlatJSONObject("{}").isEmpty)
        #expect(JSONInteger(isNegative: true, magnitude: 5).intValue == -5)
        #expect(JSONInteger(isNegative: true, magnitude: 1 << 63).intValue == Int.min)
        #expect(JSONInteger(isNegative: true, magnitude: (1 << 63) + 1).intValue == nil)
        #expect(JSONInteger(isNegative: false, magnitude: 1 << 63).intValue == nil)
        #expect(JSONInteger(isNegative: true, magnitude: 0) == JSONInteger(isNegative: false, magnitude: 0))
    }

    @Test("refuses anything else with a message naming the column",
          arguments: [
              ("", "bad JSON at column 1: expected '{' (a line is one JSON object), found the end of the line"),
              ("[1]", "bad JSON at column 1: expected '{' (a line is one JSON object)"),
              ("{\"a\":1", "bad JSON at column 7: expected ',' or '}', found the end of the line"),
              ("{\"a\":1}x", "bad JSON at column 8: unexpected text after the object"),
              ("{\"a\":null}", "bad JSON at column 6: null is not supported (values are integers, booleans or strings)"),
              ("{\"a\":[1]}", "bad JSON at column 6: nested arrays and objects are not supported (values are integers, booleans or strings)"),
              ("{\"a\":{}}", "bad JSON at column 6: nested arrays and objects are not supported (values are integers, booleans or strings)"),
              ("{\"a\":1.5}", "bad JSON at column 7: numbers must be integers"),
              ("{\"a\":1e3}", "bad JSON at column 7: numbers must be integers"),
              ("{\"a\":01}", "bad JSON at column 6: leading zeros are not allowed"),
              ("{\"a\":-}", "bad JSON at column 7: expected a digit"),
              ("{\"a\":18446744073709551616}", "bad JSON at column 6: integer does not fit 64 bits"),
              ("{\"a\":1,\"a\":2}", "bad JSON at column 8: duplicate key \"a\""),
              ("{a:1}", "bad JSON at column 2: expected a string key"),
              ("{\"a\" 1}", "bad JSON at column 6: expected ':' after a key"),
              ("{\"a\":tru}", "bad JSON at column 9: expected 'true'"),
              ("{\"a\":\"x}", "bad JSON at column 9: unterminated string"),
              ("{\"a\":\"\\q\"}", "bad JSON at column 8: invalid escape in string"),
              ("{\"a\":\"\\ud800\"}", "bad JSON at column 13: unpaired surrogate in \\u escape"),
              ("{\"a\":1,}", "bad JSON at column 8: expected a string key"),
              ("{\"a\":'x'}", "bad JSON at column 6: expected a value"),
          ] as [(String, String)])
    func refuses(text: String, message: String) {
        var thrown: FlatJSONError?
        do { _ = try parseFlatJSONObject(text) } catch { thrown = error }
        #expect(thrown?.description == message)
    }
}
