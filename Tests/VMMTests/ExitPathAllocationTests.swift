import Foundation
import Testing
import TestSupport

/// The exit path allocates nothing: two runs of the `bench` guest that differ only in their
/// number of port and MMIO exits make the same number of heap allocations, counted by an
/// LD_PRELOAD shim (Scripts/bench/malloc-count.c).
@Suite(.enabled(if: kvmAvailable)) struct ExitPathAllocationTests {
    func allocations(exitsPerKind n: Int, shim: String) throws -> Int {
        let result = runProcess(vmmExecutable, ["run", guest("bench"), "--cmdline", "n=\(n)", "--quiet", "--stats"],
                                environment: ["LD_PRELOAD": shim])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("exits_mmio=\(n)"), "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("mallocs=") })
        return try #require(Int(line.dropFirst("mallocs=".count)))
    }

    @Test func tenThousandMoreExitsMakeNoMoreAllocations() throws {
        let directory = NSTemporaryDirectory() + "malloc-count-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shim = directory + "/malloc-count.so"
        let build = runProcess("/usr/bin/env", ["cc", "-O2", "-shared", "-fPIC", "-o", shim, projectRoot + "/Scripts/bench/malloc-count.c", "-ldl"])
        try #require(build.status == 0, "building the malloc counter: \(build.output)")
        // Start-up allocations vary by a few with thread timing: the fewest of three runs each.
        let few = try (0..<3).map { _ in try allocations(exitsPerKind: 500, shim: shim) }.min() ?? 0
        let many = try (0..<3).map { _ in try allocations(exitsPerKind: 5500, shim: shim) }.min() ?? 0
        #expect(few > 0, "the shim counts")
        // 10,000 more exits: one allocation per thousand exits would show as 10.
        #expect(abs(many - few) < 10, "\(few) allocations with 1,000 exits, \(many) with 11,000")
    }
}
