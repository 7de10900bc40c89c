import VMM
import Threads
import Synchronization

/// The result of one guest of the suite.
public struct SuiteResult: Sendable {
    /// The suite entry that was run.
    public var entry: SuiteEntry
    /// How the run ended; nil when the machine could not be built or the guest loaded.
    public var outcome: RunOutcome?
    /// The host error that kept the guest from running; nil when it ran.
    public var error: String?
    /// Wall time of the whole attempt, in seconds: building the machine, loading and running.
    public var seconds: Double
    /// Interrupts the VMM raised towards the guest: KVM_SIGNAL_MSI messages and backend signals.
    public var interrupts: UInt64
    /// What the guest printed.
    public var transcript: String

    /// A result with the given values (the runner makes them; tests of the reports do too).
    public init(entry: SuiteEntry, outcome: RunOutcome?, error: String?, seconds: Double, interrupts: UInt64, transcript: String) {
        self.entry = entry
        self.outcome = outcome
        self.error = error
        self.seconds = seconds
        self.interrupts = interrupts
        self.transcript = transcript
    }

    /// Whether the outcome is the one the entry expects.
    public var passed: Bool {
        guard let outcome else { return false }
        switch (entry.expectation, outcome) {
        case (.pass, .guestExit(0)): return true
        case (.fail, .guestExit(let value)): return value != 0
        case (.fail, .vcpuFailed): return true
        case (.timeout, .timeout): return true
        default: return false
        }
    }

    /// PASS, FAIL, TIMEOUT (unexpected) or ERROR.
    public var status: String {
        if passed { return "PASS" }
        if error != nil { return "ERROR" }
        if case .timeout = outcome { return "TIMEOUT" }
        return "FAIL"
    }

    /// Why it did not pass: the guest's first "FAIL:" line, else the outcome or the error.
    public var message: String {
        if passed { return "" }
        if let error { return error }
        if let line = transcript.split(separator: "\n").first(where: { $0.hasPrefix("FAIL:") }) {
            return String(line.dropFirst(5).drop(while: { $0 == " " }))
        }
        if entry.expectation != .pass, let outcome { return "expected \(entry.expectation.rawValue), got: \(outcome)" }
        return outcome.map(\.description) ?? "did not run"
    }
}

/// Runs suite entries, each on a machine of its own, `jobs` at a time on dedicated threads.
public enum SuiteRunner {
    /// How long a guest expected to time out is given before it is stopped.
    public static let expectedTimeout = 0.5

    /// Runs `entries` with `base` (vCPU count set per entry) and returns the results in entry order.
    /// `progress` is called as each finishes (from the worker threads, one at a time).
    ///
    /// With `stopAfterFailure`, no entry is started once one has not passed (those already running
    /// finish): the result holds only the entries that ran, still in entry order, so
    /// `entries.count - results.count` were left out.
    public static func run(_ entries: [SuiteEntry], base: MachineConfiguration, timeout: Double, jobs: Int,
                           stopAfterFailure: Bool = false,
                           progress: @escaping @Sendable (SuiteResult) -> Void = { _ in }) -> [SuiteResult] {
        let next = Atomic<Int>(0)
        let stopped = Atomic<Bool>(false)
        let results = Locked<[SuiteResult?]>(Array(repeating: nil, count: entries.count))
        let report = Locked(())
        @Sendable func work() {
            while !stopped.load(ordering: .acquiring) {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < entries.count else { return }
                let result = runOne(entries[index], base: base, timeout: timeout)
                results.withLock { $0[index] = result }
                if stopAfterFailure && !result.passed { stopped.store(true, ordering: .releasing) }
                report.withLock { _ in progress(result) }
            }
        }
        var workers: [OSThread] = []
        for worker in 0..<max(1, min(jobs, entries.count)) {
            if let thread = try? OSThread(name: "suite\(worker)", work) { workers.append(thread) }
        }
        if workers.isEmpty { work() }  // no thread could be started: run here
        for worker in workers { worker.join() }
        return results.withLock { $0.compactMap { $0 } }
    }

    /// Runs one guest on a fresh machine.
    public static func runOne(_ entry: SuiteEntry, base: MachineConfiguration, timeout: Double) -> SuiteResult {
        var configuration = base
        configuration.layout.vcpuCount = entry.vcpus
        configuration.layout.apicIDs = entry.apicIDs
        configuration.echoConsole = false
        let clock = ContinuousClock()
        let start = clock.now
        var result = SuiteResult(entry: entry, outcome: nil, error: nil, seconds: 0, interrupts: 0, transcript: "")
        do {
            let limit = entry.expectation == .timeout ? expectedTimeout : timeout
            let (machine, outcome) = try Machine.runGuest(at: entry.path, configuration: configuration, timeout: limit)
            result.outcome = outcome
            result.transcript = machine.console.transcript
            result.interrupts = machine.testDevices.reduce(0) { $0 + $1.interruptsRaised }
        } catch {
            result.error = "\(error)"
        }
        let elapsed = (clock.now - start).components
        result.seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        return result
    }
}
