import Foundation
import Testing
import TestSupport

/// The long seeded hostile-guest fuzz: the `hostile` guest makes random config, BAR, MSI-X, port
/// and MMIO accesses of every size on several machine shapes. Each run is a `vmm run` process of
/// its own, so a crash or a trap is a failed case naming its seed rather than a dead test runner.
/// The committed list below makes 1.05 million guest accesses (about 3 minutes on this 2-core
/// host, the runs two at a time); with `VMM_TEST_SEED` every shape runs once with that seed.
@Suite(.enabled(if: kvmAvailable)) struct HostileGuestTests {
    struct Run: Sendable, CustomTestStringConvertible {
        let shape: String
        let options: [String]
        let seed: UInt64
        let accesses: Int
        var testDescription: String { "\(shape), seed \(seed), \(accesses) accesses" }
    }

    static let shapes: [(String, [String])] = [
        ("default machine", []),
        // APIC IDs 5 and 300: the bootstrap vCPU is not 0, and KVM takes 32-bit IDs, so every
        // message the guest writes goes through the extended-destination translation.
        ("2 vCPUs with APIC IDs 5 and 300, 3 devices of 2048 vectors",
         ["--apic-ids", "5,300", "--test-devices", "3", "--msix-vectors", "2048"]),
        ("moved: 1 GiB RAM, ECAM and window moved, 1-vector devices",
         ["--memory", "1G", "--ecam-base", "0xB0000000", "--mmio-window", "0x80000000:0x10000000", "--test-devices", "2", "--msix-vectors", "1"]),
        ("2 vCPUs, no test device", ["--vcpus", "2", "--test-devices", "0"]),
    ]

    /// The committed seed list: (shape index, seed, accesses).
    static let committed: [(Int, UInt64, Int)] = [
        (0, 1, 150_000), (0, 2, 150_000), (1, 3, 250_000), (2, 4, 250_000), (3, 5, 250_000),
    ]

    static let runs: [Run] = {
        let seeds = testSeeds(committed.map(\.1))
        if seeds.count == 1, !committed.contains(where: { $0.1 == seeds[0] }) {
            return shapes.map { Run(shape: $0.0, options: $0.1, seed: seeds[0], accesses: 100_000) }
        }
        return committed.filter { seeds.contains($0.1) }.map { Run(shape: shapes[$0.0].0, options: shapes[$0.0].1, seed: $0.1, accesses: $0.2) }
    }()

    @Test(arguments: runs)
    func theVMMSurvivesAHostileGuest(run: Run) throws {
        _ = guestDirectory
        let arguments = ["run", guest("hostile"), "--cmdline", "seed=\(run.seed) accesses=\(run.accesses)", "--timeout", "900"] + run.options
        let replay = "vmm " + arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let result = runProcess(vmmExecutable, arguments, timeout: 1000)
        #expect(result.status == 0, "\(run.testDescription): status \(result.status); replay: \(replay)\n\(result.output.suffix(2000))")
        #expect(!result.output.contains("Fatal error"), "replay: \(replay)")
        let summary = try #require(result.output.split(separator: "\n").last { $0.hasPrefix("hostile: seed=\(run.seed) accesses=\(run.accesses) config=") },
                                   "no summary line; replay: \(replay)\n\(result.output.suffix(2000))")
        var counts: [String: Int] = [:]
        for field in summary.split(separator: " ").dropFirst() {
            let parts = field.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { counts[String(parts[0])] = value }
        }
        let total = ["config", "bar", "msix", "port", "mmio"].reduce(0) { $0 + (counts[$1] ?? 0) }
        #expect(total == run.accesses, "every access was made: \(summary)")
        // BAR and MSI-X operations need a test device; every shape has config, port and MMIO.
        for category in ["config", "port", "mmio"] { #expect((counts[category] ?? 0) > 0, "\(category) accesses made: \(summary)") }
    }

    @Test func theCommittedListMakesAMillionAccessesOnThreeShapesOrMore() {
        #expect(Self.committed.map(\.2).reduce(0, +) >= 1_000_000)
        #expect(Set(Self.committed.map(\.0)).count >= 3)
    }
}
