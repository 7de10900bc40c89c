import TextFormat

extension SuiteReport {
    /// The results as TAP version 13 (the Test Anything Protocol, testanything.org; the version Perl's TAP::Parser and most harnesses read): the plan
    /// `1..N`, then one `ok`/`not ok` line per guest in run order; a guest that did not pass gets
    /// a YAML block with its status, first failed check, time and expectation. When `notRun`
    /// guests were left out (`--fail-fast`), the stream ends with `Bail out!`, which a TAP
    /// consumer reports as an aborted run.
    public static func tap(_ results: [SuiteResult], notRun: Int = 0) -> String {
        var lines = ["TAP version 13", "1..\(results.count)"]
        for (number, r) in results.enumerated() {
            let name = tapDescription(r.entry.name)
            if r.passed {
                lines.append("ok \(number + 1) - \(name)")
                continue
            }
            lines.append("not ok \(number + 1) - \(name)")
            // JSON string literals are YAML flow scalars: any text the guest printed stays one line.
            lines.append("  ---")
            lines.append("  status: \(r.status)")
            lines.append("  message: \(jsonStringLiteral(r.message))")
            lines.append("  expected: \(r.entry.expectation.rawValue)")
            lines.append("  seconds: \(seconds(r.seconds))")
            lines.append("  ...")
        }
        if notRun > 0 {
            lines.append("Bail out! --fail-fast: \(notRun) guest\(notRun == 1 ? "" : "s") not run after a failure")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A TAP description may not contain `#` (it starts a directive) or a line break.
    static func tapDescription(_ name: String) -> String {
        String(name.map { $0 == "#" ? "-" : ($0.isNewline ? " " : $0) })
    }
}
