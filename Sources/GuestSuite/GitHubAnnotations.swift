extension SuiteReport {
    /// GitHub Actions workflow commands for the guests that did not pass: one
    /// `::error title=vmm test: NAME::STATUS: MESSAGE` line each, which the Actions log shows as
    /// an error annotation with the guest's first failed check (`vmm test` prints them when
    /// `GITHUB_ACTIONS=true`). Text is escaped as the runner expects: `%`, CR and LF everywhere,
    /// and also `:` and `,` in the title.
    public static func githubAnnotations(_ results: [SuiteResult]) -> [String] {
        results.filter { !$0.passed }.map { r in
            let title = annotationEscaped("vmm test: " + r.entry.name, isProperty: true)
            return "::error title=\(title)::\(annotationEscaped("\(r.status): \(r.message)", isProperty: false))"
        }
    }

    static func annotationEscaped(_ text: String, isProperty: Bool) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case "\r": out += "%0D"
            case "\n": out += "%0A"
            case ":" where isProperty: out += "%3A"
            case "," where isProperty: out += "%2C"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
