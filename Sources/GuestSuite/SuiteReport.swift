import VMM
import TextFormat

/// The suite's results in the forms people and CI systems read: a table, JUnit XML, JSON, TAP
/// (TAPReport.swift) and GitHub Actions annotations (GitHubAnnotations.swift).
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

    /// What `vmm test --list` prints: a header, then each entry's name, vCPUs, expectation and
    /// what it checks, one line each, in the order given.
    public static func list(_ entries: [SuiteEntry]) -> String {
        let width = max(5, entries.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var lines = [pad("GUEST", width) + "  VCPUS  EXPECT   CHECKS"]
        for e in entries {
            lines.append(pad(e.name, width) + "  " + pad(String(e.vcpus), 5) + "  " + pad(e.expectation.rawValue, 7) + "  " + e.checks)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// JUnit XML: one testsuite, one testcase per guest, a failure (or error) element for those
    /// that did not pass, and every guest's console transcript in its `system-out`.
    public static func junit(_ results: [SuiteResult]) -> String {
        let failures = results.filter { !$0.passed && $0.error == nil }.count
        let errors = results.filter { $0.error != nil }.count
        let total = results.reduce(0.0) { $0 + $1.seconds }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(seconds(total))\">\n"
        xml += "  <testsuite name=\"vmm-guests\" tests=\"\(results.count)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(seconds(total))\">\n"
        for r in results {
            xml += "    <testcase classname=\"vmm.guests\" name=\"\(xmlEscaped(r.entry.name))\" time=\"\(seconds(r.seconds))\">\n"
            if !r.passed {
                let element = r.error != nil ? "error" : "failure"
                xml += "      <\(element) message=\"\(xmlEscaped(r.message))\" type=\"\(r.status)\"/>\n"
            }
            xml += "      <system-out>\(xmlEscaped(r.transcript))</system-out>\n"
            xml += "    </testcase>\n"
        }
        xml += "  </testsuite>\n</testsuites>\n"
        return xml
    }

    /// JSON: {"passed":N,"failed":N,"tests":[{"name","result","seconds","interrupts","vcpus","expect","message"}]}.
    public static func json(_ results: [SuiteResult]) -> String {
        let passed = results.filter(\.passed).count
        let tests = results.map { r in
            "{\"name\":\(jsonStringLiteral(r.entry.name)),\"result\":\(jsonStringLiteral(r.status)),\"seconds\":\(seconds(r.seconds)),"
                + "\"interrupts\":\(r.interrupts),\"vcpus\":\(r.entry.vcpus),\"expect\":\(jsonStringLiteral(r.entry.expectation.rawValue)),"
                + "\"message\":\(jsonStringLiteral(r.message))}"
        }
        return "{\"passed\":\(passed),\"failed\":\(results.count - passed),\"tests\":[\n" + tests.joined(separator: ",\n") + "\n]}\n"
    }

    static func milliseconds(_ seconds: Double) -> String { String(Int((seconds * 1000).rounded())) }

    static func seconds(_ value: Double) -> String {
        let ms = Int((value * 1000).rounded())
        let fraction = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
