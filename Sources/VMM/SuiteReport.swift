/// The suite's results in the forms people and CI systems read: a table, JUnit XML, JSON.
public enum SuiteReport {
    /// One header line, one line per guest, then "N passed, N failed".
    public static func table(_ results: [SuiteResult]) -> String {
        let width = max(5, results.map(\.entry.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var lines = [pad("GUEST", width) + "  RESULT   TIME       INTERRUPTS  DETAIL"]
        for r in results {
            let time = pad(milliseconds(r.seconds) + " ms", 9)
            lines.append(pad(r.entry.name, width) + "  " + pad(r.status, 7) + "  " + time + "  " + pad(String(r.interrupts), 10) + "  " + r.message)
        }
        lines.append(summary(results))
        return lines.joined(separator: "\n")
    }

    /// "N passed, N failed".
    public static func summary(_ results: [SuiteResult]) -> String {
        let passed = results.filter(\.passed).count
        return "\(passed) passed, \(results.count - passed) failed"
    }

    /// JUnit XML: one testsuite, one testcase per guest, with a failure (or error) element and the
    /// guest's console output for those that did not pass.
    public static func junit(_ results: [SuiteResult]) -> String {
        let failures = results.filter { !$0.passed && $0.error == nil }.count
        let errors = results.filter { $0.error != nil }.count
        let total = results.reduce(0.0) { $0 + $1.seconds }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(seconds(total))\">\n"
        xml += "  <testsuite name=\"vmm-guests\" tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(seconds(total))\">\n"
        for r in results {
            xml += "    <testcase classname=\"vmm.guests\" name=\"\(xmlEscape(r.entry.name))\" time=\"\(seconds(r.seconds))\""
            if r.passed {
                xml += "/>\n"
                continue
            }
            xml += ">\n"
            let element = r.error != nil ? "error" : "failure"
            xml += "      <\(element) message=\"\(xmlEscape(r.message))\" type=\"\(r.status)\">\(xmlEscape(r.transcript))</\(element)>\n"
            xml += "    </testcase>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// JSON: {"passed":N,"failed":N,"tests":[{"name","result","seconds","interrupts","vcpus","expect","message"}]}.
    public static func json(_ results: [SuiteResult]) -> String {
        let passed = results.filter(\.passed).count
        let tests = results.map { r in
            "{\"name\":\(jsonString(r.entry.name)),\"result\":\(jsonString(r.status)),\"seconds\":\(seconds(r.seconds)),"
                + "\"interrupts\":\(r.interrupts),\"vcpus\":\(r.entry.vcpus),\"expect\":\(jsonString(r.entry.expectation.rawValue)),"
                + "\"message\":\(jsonString(r.message))}"
        }
        return "{\"passed\":\(passed),\"failed\":\(results.count - passed),\"tests\":[\n" + tests.joined(separator: ",\n") + "\n]}\n"
    }

    static func xmlEscape(_ text: String) -> String {
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
                // XML 1.0 forbids other control characters; a guest may print anything.
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) { out += "?" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func milliseconds(_ seconds: Double) -> String { String(Int((seconds * 1000).rounded())) }

    static func seconds(_ value: Double) -> String {
        let ms = Int((value * 1000).rounded())
        let fraction = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
