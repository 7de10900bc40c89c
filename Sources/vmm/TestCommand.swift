import ArgumentParser
import GuestSuite
import VMM

#if canImport(Glibc)
import Glibc
#endif

/// `vmm test`: run the guest conformance suite and report it for people and CI systems.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the guest conformance suite (the default when vmm is given no arguments).",
        discussion: """
            Boots every guest of the suite manifest (suite.txt beside the built guests, written by \
            Scripts/build-guests.sh), each on a machine of its own, several at a time. Prints a \
            table (guest, result, time, interrupts the VMM raised, first failed check) ending in \
            "N passed, N failed", and exits with status 1 when a guest misses its expectation.

            Progress goes to standard error: one updating line on a terminal, one line per guest \
            otherwise. With GITHUB_ACTIONS=true each failed guest also becomes an ::error \
            annotation. --shard splits the suite by name, the same way on every runner.

            Examples:
              vmm test --list
              vmm test --filter msix --junit report.xml
              vmm test --shard 2/4 --tap results.tap
              vmm test --filter msix-stress --repeat 20 --seed 7 --fail-fast
            """
    )

    @Flag(name: .long, help: "List the guests of the suite and what each checks, then exit.")
    var list = false

    @Option(name: .long, help: "Run only guests whose name contains this text (repeatable).")
    var filter: [String] = []

    @Option(name: .long, help: ArgumentHelp("Run shard K of N (1 ≤ K ≤ N) of the suite, split by name.", valueName: "K/N"))
    var shard: String?

    @Option(name: .long, parsing: .unconditional, help: "Run each guest N times.")
    var `repeat`: Int = 1

    @Option(name: .long, parsing: .unconditional, help: "Shuffle the run order with this seed (default: manifest order).")
    var seed: UInt64?

    @Flag(name: .long, help: "Start no more guests after the first one fails.")
    var failFast = false

    @Option(name: .long, help: ArgumentHelp("Write a JUnit XML report to FILE.", valueName: "FILE"))
    var junit: String?

    @Option(name: .long, help: ArgumentHelp("Write a JSON report to FILE.", valueName: "FILE"))
    var json: String?

    @Option(name: .long, help: ArgumentHelp("Write TAP (version 13) to FILE, or to standard output for -.", valueName: "FILE"))
    var tap: String?

    @Option(name: .long, parsing: .unconditional, help: "Guests run at once.")
    var jobs: Int = 2

    @Option(name: .long, parsing: .unconditional, help: "Seconds each guest may run.")
    var timeout: Double = 30

    @Option(name: .long, parsing: .unconditional, help: "MSI-X vectors of each test device, 1…2048.")
    var msixVectors: Int = 16

    @Option(name: .long, parsing: .unconditional, help: "MSI-X test devices on bus 0, 1…31.")
    var testDevices: Int = 1

    @Option(name: .long, help: RouteCommits.help)
    var routeCommits: RouteCommits = .coalesced

    @Option(name: .long, help: ArgumentHelp("Folder of built guests and suite.txt (default: found beside vmm).", valueName: "DIR"))
    var guestDir: String?

    @Flag(name: .long, help: "Print the console output of guests that did not pass.")
    var verbose = false

    func validate() throws {
        guard (1...2048).contains(msixVectors) else { throw ValidationError("--msix-vectors must be in 1…2048, not \(msixVectors)") }
        guard (1...31).contains(testDevices) else { throw ValidationError("--test-devices must be in 1…31, not \(testDevices)") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, not \(jobs)") }
        guard timeout > 0, timeout <= 86400 else { throw ValidationError("--timeout must be a number of seconds in (0, 86400], not \(timeout)") }
        guard (1...10000).contains(`repeat`) else { throw ValidationError("--repeat must be in 1…10000, not \(`repeat`)") }
        if let shard, SuiteSelection.Shard(shard) == nil {
            throw ValidationError("--shard must be K/N with 1 ≤ K ≤ N, not \(shard)")
        }
    }

    func run() throws {
        guard let directory = guestDir ?? BuiltInGuests.directory(containing: "suite.txt") else {
            fail("no built guests found; run Scripts/build-guests.sh (searched \(BuiltInGuests.searchDirectories().first ?? "nothing"))")
        }
        var entries: [SuiteEntry]
        do { entries = try SuiteEntry.load(directory: directory) } catch { fail("\(error)") }
        if !filter.isEmpty { entries = entries.filter { entry in filter.contains { entry.name.contains($0) } } }
        guard !entries.isEmpty else { fail("no guest matches --filter \(filter.joined(separator: ", "))") }
        let selection = SuiteSelection(shard: shard.flatMap(SuiteSelection.Shard.init), repetitions: `repeat`, seed: seed)
        entries = selection.apply(entries)
        if list {
            print(SuiteReport.list(entries), terminator: "")
            return
        }
        // An empty shard (more shards than guests) runs nothing and passes.

        var base = MachineConfiguration()
        base.msixVectors = msixVectors
        base.testDevices = testDevices
        base.routeCommits = routeCommits.policy
        base.log = { _ in }
        let progress = SuiteProgress(total: entries.count, onTerminal: isatty(2) == 1)
        let results = SuiteRunner.run(entries, base: base, timeout: timeout, jobs: jobs, stopAfterFailure: failFast) { result in
            progress.finished(result)
        }
        progress.end()
        let notRun = entries.count - results.count

        // With --tap -, standard output carries the TAP stream alone: the rest goes to stderr.
        let say: (String) -> Void = tap == "-" ? { writeStandardError($0 + "\n") } : { print($0) }
        var table = SuiteReport.table(results)
        if notRun > 0 { table += "\n--fail-fast: stopped after a failure; \(notRun) not run" }
        if let seed { table += "\nrun order shuffled with --seed \(seed)" }
        say(table)
        if verbose {
            for r in results where !r.passed { say("--- \(r.entry.name) console ---\n\(r.transcript)") }
        }
        if environmentValue("GITHUB_ACTIONS") == "true" {
            for line in SuiteReport.githubAnnotations(results) { say(line) }
        }
        do {
            if let junit { try HostFile.write(Array(SuiteReport.junit(results).utf8), to: junit) }
            if let json { try HostFile.write(Array(SuiteReport.json(results).utf8), to: json) }
            if let tap {
                let text = SuiteReport.tap(results, notRun: notRun)
                if tap == "-" { print(text, terminator: "") } else { try HostFile.write(Array(text.utf8), to: tap) }
            }
        } catch {
            fail("\(error)")
        }
        if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}

func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
