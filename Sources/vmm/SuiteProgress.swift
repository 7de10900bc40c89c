import GuestSuite
import Threads

#if canImport(Glibc)
import Glibc
#endif

/// What `vmm test` shows on standard error while the suite runs: on a terminal, one line that
/// each finished guest rewrites ("[3/20] 3 passed, 0 failed; last: msix-deliver PASS") and that
/// `end` erases; elsewhere (a CI log, a pipe) one plain line per finished guest.
final class SuiteProgress: Sendable {
    private let total: Int
    private let onTerminal: Bool
    private let counts = Locked((done: 0, failed: 0))

    init(total: Int, onTerminal: Bool) {
        self.total = total
        self.onTerminal = onTerminal
    }

    /// Called by the runner as each guest finishes (one at a time).
    func finished(_ result: SuiteResult) {
        let (done, failed) = counts.withLock { counts in
            counts.done += 1
            if !result.passed { counts.failed += 1 }
            return (counts.done, counts.failed)
        }
        let milliseconds = Int((result.seconds * 1000).rounded())
        if onTerminal {
            // \r and "erase to end of line": the line is rewritten in place.
            writeStandardError("\r\u{1B}[K[\(done)/\(total)] \(done - failed) passed, \(failed) failed; last: \(result.entry.name) \(result.status)")
        } else {
            writeStandardError("[\(done)/\(total)] \(result.status) \(result.entry.name) \(milliseconds) ms\n")
        }
    }

    /// Erases the terminal's progress line before the report is printed.
    func end() {
        if onTerminal && counts.withLock({ $0.done }) > 0 { writeStandardError("\r\u{1B}[K") }
    }
}

/// Writes `text` to standard error as it is (no prefix, no newline added).
func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(2, bytes.baseAddress! + done, bytes.count - done)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            done += n
        }
    }
}
