import Foundation
import Testing
import TestSupport

/// `vmm msix-replay` round-trips the README's example, and bad input gets error events.
@Suite struct ReplayCLITests {
    /// The lines of the fenced block that follows `marker` in README.md.
    func readmeBlock(after marker: String) throws -> [String] {
        let readme = try String(contentsOfFile: projectRoot + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: marker), "\(marker) in README.md")
        let rest = readme[start.upperBound...]
        let open = try #require(rest.range(of: "```json\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        return rest[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
    }

    @Test func replayRoundTripsTheReadmeExample() throws {
        let input = try readmeBlock(after: "<!-- replay-example-input -->")
        let expected = try readmeBlock(after: "<!-- replay-example-output -->")
        let path = NSTemporaryDirectory() + "replay-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try (input.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let result = runProcess(vmmExecutable, ["msix-replay", path])
        #expect(result.status == 0)
        #expect(result.output.split(separator: "\n").map(String.init) == expected)
        #expect(expected.contains { $0.contains("\"via\":\"irqfd\"") } && expected.contains { $0.contains("\"via\":\"signal\"") })
    }

    @Test func badLinesBecomeErrorEventsAndReplayGoesOn() throws {
        let path = NSTemporaryDirectory() + "replay-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "{\"op\":\"notify\",\"vector\":0}\nnot json\n{\"op\":\"init\",\"vectors\":2}\n{\"op\":\"cap_read\",\"offset\":2,\"size\":2}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let lines = runProcess(vmmExecutable, ["msix-replay", path]).output.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("{\"event\":\"error\",\"line\":1,"))
        #expect(lines[1].hasPrefix("{\"event\":\"error\",\"line\":2,"))
        #expect(lines[2] == "{\"event\":\"read\",\"value\":1}", "Table Size field = n − 1 = 1")
    }

    @Test func aMissingTraceIsOneLineAndStatus2() {
        let result = runProcess(vmmExecutable, ["msix-replay", "/nonexistent.jsonl"])
        #expect(result.status == 2)
        #expect(result.output == "vmm: error: cannot read trace /nonexistent.jsonl: no such file\n")
    }
}
