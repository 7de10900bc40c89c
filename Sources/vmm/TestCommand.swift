import ArgumentParser
import GuestSuite
import VMM

/// `vmm test`: run the guest conformance suite and report it for people and CI systems.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the guest conformance suite (the default when vmm is given no arguments).",
        discussion: """
            Boots every built guest listed in the suite manifest (suite.txt beside the guests, written by
            Scripts/build-guests.sh), each on a machine of its own, several at a time. Prints a table
            (guest, result, time, interrupts the VMM raised) and "N passed, N failed"; exits with status 1
            when any guest does not meet its expectation (pass, fail or timeout).
            """
    )

    @Option(name: .long, help: "Run only guests whose name contains this text (repeatable).")
    var filter: [String] = []

    @Option(name: .long, help: "Write a JUnit XML report to FILE.")
    var junit: String?

    @Option(name: .long, help: "Write a JSON report to FILE.")
    var json: String?

    @Option(name: .long, parsing: .unconditional, help: "Guests run at once (default 2).")
    var jobs: Int = 2

    @Option(name: .long, parsing: .unconditional, help: "Seconds each guest may run (default 30).")
    var timeout: Double = 30

    @Option(name: .long, parsing: .unconditional, help: "MSI-X vectors of each test device, 1…2048 (default 16).")
    var msixVectors: Int = 16

    @Option(name: .long, parsing: .unconditional, help: "MSI-X test devices on each guest's PCI bus 0, 1…31 (default 1; guests use the first).")
    var testDevices: Int = 1

    @Option(name: .long, help: "Folder of built guests and suite.txt (default: found beside the executable, as for `run`).")
    var guestDir: String?

    @Flag(name: .long, help: "Print the console output of guests that did not pass.")
    var verbose = false

    func validate() throws {
        guard (1...2048).contains(msixVectors) else { throw ValidationError("--msix-vectors must be in 1…2048, not \(msixVectors)") }
        guard (1...31).contains(testDevices) else { throw ValidationError("--test-devices must be in 1…31, not \(testDevices)") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1, not \(jobs)") }
        guard timeout > 0, timeout <= 86400 else { throw ValidationError("--timeout must be a number of seconds in (0, 86400], not \(timeout)") }
    }

    func run() throws {
        guard let directory = guestDir ?? BuiltInGuests.directory(containing: "suite.txt") else {
            fail("no built guests found; run Scripts/build-guests.sh (searched \(BuiltInGuests.searchDirectories().first ?? "nothing"))")
        }
        var entries: [SuiteEntry]
        do { entries = try SuiteEntry.load(directory: directory) } catch { fail("\(error)") }
        if !filter.isEmpty { entries = entries.filter { entry in filter.contains { entry.name.contains($0) } } }
        guard !entries.isEmpty else { fail("no guest matches --filter \(filter.joined(separator: ", "))") }

        var base = MachineConfiguration()
        base.msixVectors = msixVectors
        base.testDevices = testDevices
        base.log = { _ in }
        let results = SuiteRunner.run(entries, base: base, timeout: timeout, jobs: jobs)
        print(SuiteReport.table(results))
        if verbose {
            for r in results where !r.passed { print("--- \(r.entry.name) console ---\n\(r.transcript)") }
        }
        do {
            if let junit { try HostFile.write(Array(SuiteReport.junit(results).utf8), to: junit) }
            if let json { try HostFile.write(Array(SuiteReport.json(results).utf8), to: json) }
        } catch {
            fail("\(error)")
        }
        if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
