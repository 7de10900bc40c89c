import Foundation
import GuestSuite
import Testing
import TestSupport

/// The `vmm` executable as a user meets it: exit statuses and one-line errors.
@Suite(.enabled(if: kvmAvailable)) struct CLITests {
    @Test func withNoArgumentsItRunsTheConformanceSuite() {
        _ = guestDirectory
        let result = runProcessSeparately(vmmExecutable, [])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
        #expect(result.output.hasPrefix("GUEST"), "progress goes to stderr, the table to stdout")
        // Not a terminal: one plain progress line per guest on stderr.
        #expect(result.errors.split(separator: "\n").contains { $0.hasPrefix("[1/") && $0.contains(" PASS ") }, "\(result.errors)")
        #expect(result.output.contains("hello "))
        #expect(result.output.contains(" passed, 0 failed"))
    }

    @Test func runWithNoGuestBootsTheBuiltInHelloGuest() {
        _ = guestDirectory
        let result = runProcess(vmmExecutable, ["run"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("hello from vCPU 0"))
    }

    @Test func testWritesJUnitAndJSONAndFailsWhenAGuestFails() throws {
        _ = guestDirectory
        let junit = NSTemporaryDirectory() + "vmm-\(UUID().uuidString).xml"
        let json = NSTemporaryDirectory() + "vmm-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: junit); try? FileManager.default.removeItem(atPath: json) }
        let ok = runProcess(vmmExecutable, ["test", "--filter", "hello", "--junit", junit, "--json", json])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("1 passed, 0 failed"))
        #expect(try String(contentsOfFile: junit, encoding: .utf8).contains("name=\"hello\""))
        #expect(try String(contentsOfFile: json, encoding: .utf8).contains("\"passed\":1"))
        // A guest that does not meet its expectation makes the run fail: point the runner at a
        // manifest that expects the fault guest to pass.
        let directory = NSTemporaryDirectory() + "vmm-suite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: guest("fault"), toPath: directory + "/fault.elf")
        try "fault vcpus=1 expect=pass\n".write(toFile: directory + "/suite.txt", atomically: true, encoding: .utf8)
        let bad = runProcess(vmmExecutable, ["test", "--guest-dir", directory])
        #expect(bad.status == 1)
        #expect(bad.output.contains("0 passed, 1 failed"))
        #expect(bad.output.contains("SHUTDOWN (triple fault)"), "\(bad.output)")
    }

    @Test func theGuestsStatusBecomesTheExitStatus() {
        #expect(runProcess(vmmExecutable, ["run", guest("hello"), "--quiet"]).status == 0)
        let spin = runProcess(vmmExecutable, ["run", guest("spin"), "--timeout", "0.3"])
        #expect(spin.status == 124)
        #expect(spin.output.contains("timeout: the guest did not exit within 0.3 s"))
        let fault = runProcess(vmmExecutable, ["run", guest("fault")])
        #expect(fault.status == 126)
        #expect(fault.output.contains("vCPU 0 stopped on SHUTDOWN (triple fault) at RIP 0x"), "\(fault.output)")
    }

    @Test(arguments: [
        (["run", "/nonexistent.elf"], "vmm: error: cannot read guest /nonexistent.elf: no such file"),
        (["run", "/"], "vmm: error: cannot read guest /: not a regular file"),
        (["run", "--initrd", "/nonexistent.img"], "vmm: error: cannot read initrd /nonexistent.img: no such file"),
        (["run", projectRoot + "/Package.swift"], "Package.swift: no boot protocol found (no Multiboot header, no PVH note, no Linux setup header, not an ELF64 x86-64 executable)"),
        (["run", "--memory", "1"], "vmm: error: memory size 1 MiB is too small: the machine needs at least 2 MiB"),
        (["run", "--vcpus", "99"], "vmm: error: vCPU count 99 is out of range: 1…16"),
        (["run", "--apic-ids", "0,4294967295"], "vmm: error: bad machine layout: APIC ID 4294967295 is beyond what this KVM gives a vCPU"),
        (["run", "--kvm-device", "/dev/nonexistent-kvm"], "vmm: error: cannot open /dev/nonexistent-kvm: ENOENT"),
        (["run", "--mmio-window", "0xC0000000:0x100000001"], "PCI MMIO window at 0xc0000000 (0x100000001 bytes) must lie below 4 GiB"),
        (["run", "--ecam-base", "0xE0000100"], "ECAM at 0xe0000100 must be 1 MiB aligned"),
        (["run", "--msix-vectors", "4096"], "MSI-X vector count 4096 is out of range 1…2048"),
        (["run", "--memory", "64K"], "vmm: error: memory size 64 KiB is too small: the machine needs at least 2 MiB"),
        (["run", "--memory", "3M"], "vmm: error: memory size 3 MiB is not a multiple of 2 MiB"),
        (["run", "--kvm-device", "/tmp"], "vmm: error: cannot open /tmp: EISDIR (is a directory, not the KVM device)"),
        (["run", "--kvm-device", projectRoot + "/Package.swift"], "Package.swift: not a KVM device (KVM_GET_API_VERSION failed: ENOTTY)"),
        (["run", "--test-devices", "40"], "test device count 40 is out of range 0…31"),
        (["run", "--dump-dtb", "/nonexistent-dir/x.dtb"], "vmm: error: cannot write /nonexistent-dir/x.dtb: no such file"),
        (["msix-replay", "/nonexistent.jsonl"], "vmm: error: cannot read trace /nonexistent.jsonl: no such file"),
    ])
    func badHostInputGetsOneLineAndANonZeroStatus(arguments: [String], message: String) {
        _ = guestDirectory
        let result = runProcess(vmmExecutable, arguments)
        #expect(result.status == 2)
        #expect(result.output.contains(message), "\(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "one line: \(result.output)")
        #expect(!result.output.contains("Fatal error"))
    }

    /// A FIFO given as a guest or a trace used to block in open(2) forever, before the "not a
    /// regular file" check: it must get the same one-line error as a directory.
    @Test(arguments: [["run"], ["msix-replay"]])
    func aFIFOIsRefusedLikeADirectoryWithoutBlocking(command: [String]) throws {
        let fifo = NSTemporaryDirectory() + "vmm-fifo-\(UUID().uuidString)"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let result = runProcess(vmmExecutable, command + [fifo], timeout: 10)
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains(": not a regular file"), "\(result.output)")
        #expect(result.output.split(separator: "\n").count == 1)
    }

    /// Values the parser can judge alone (a sign, zero) exit 64 with a sentence saying what is
    /// wrong, never "Missing value" for a negative number.
    @Test(arguments: [
        (["run", "--vcpus", "-1"], "--vcpus must be positive, not -1"),
        (["run", "--vcpus", "0"], "--vcpus must be positive, not 0"),
        (["run", "--memory", "-1"], "it must be positive"),
        (["run", "--msix-vectors", "-3"], "--msix-vectors must be positive, not -3"),
        (["run", "--test-devices", "-2"], "--test-devices must be 0 or more, not -2"),
        (["run", "--timeout", "-1"], "--timeout must be a number of seconds in (0, 86400], not -1.0"),
        (["run", "--ecam-base", "-5"], "'-5' is not an address (use 0x… hex or decimal; it must be positive)"),
        (["test", "--jobs", "-1"], "--jobs must be at least 1, not -1"),
        (["test", "--shard", "3/2"], "--shard must be K/N with 1 ≤ K ≤ N, not 3/2"),
        (["test", "--shard", "0/2"], "--shard must be K/N with 1 ≤ K ≤ N, not 0/2"),
        (["test", "--repeat", "0"], "--repeat must be in 1…10000, not 0"),
        (["run", "--apic-ids", "0,0"], "APIC ID 0 is listed twice"),
        (["run", "--apic-ids", "0,x"], "'x' is not an APIC ID"),
        (["run", "--apic-ids", "0,-3"], "'-3' is not an APIC ID"),
        (["run", "--apic-ids", "0,300", "--vcpus", "3"], "--vcpus 3 and --apic-ids with 2 IDs disagree"),
    ])
    func negativeAndZeroCountsAreExplained(arguments: [String], message: String) {
        let result = runProcess(vmmExecutable, arguments)
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains(message), "\(result.output)")
        #expect(!result.output.contains("Missing value"))
    }

    /// `--list` names every guest of the manifest with what it checks and runs none; the shards
    /// of a split list every guest once between them.
    @Test func listAndShardsNameEveryGuestOnce() throws {
        let all = runProcessSeparately(vmmExecutable, ["test", "--list"])
        #expect(all.status == 0, "\(all.output)\(all.errors)")
        let lines = all.output.split(separator: "\n").dropFirst()
        let names = lines.map { String($0.split(separator: " ")[0]) }
        #expect(names == suiteEntries.map(\.name))
        #expect(all.output.contains("a triple fault stops the vCPU"), "\(all.output)")
        #expect(all.errors.isEmpty, "--list runs nothing: \(all.errors)")
        var sharded: [String] = []
        for k in 1...3 {
            let shard = runProcessSeparately(vmmExecutable, ["test", "--list", "--shard", "\(k)/3"])
            #expect(shard.status == 0)
            sharded += shard.output.split(separator: "\n").dropFirst().map { String($0.split(separator: " ")[0]) }
        }
        #expect(sharded.sorted() == names.sorted())
        let repeated = runProcess(vmmExecutable, ["test", "--list", "--filter", "hello", "--repeat", "2"])
        #expect(repeated.output.contains("hello#2 "), "\(repeated.output)")
    }

    /// `--tap -`: standard output is the TAP stream alone; `--fail-fast` stops after the first
    /// failure and says how many did not run; under GitHub Actions the failure is an ::error line.
    @Test func tapOnStdoutFailFastAndGitHubAnnotations() throws {
        let directory = NSTemporaryDirectory() + "vmm-suite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for name in ["fault", "hello"] { try FileManager.default.copyItem(atPath: guest(name), toPath: directory + "/\(name).elf") }
        try "fault vcpus=1 expect=pass\nhello\nhello\n".write(toFile: directory + "/suite.txt", atomically: true, encoding: .utf8)
        let run = runProcessSeparately(vmmExecutable, ["test", "--guest-dir", directory, "--tap", "-", "--fail-fast", "--jobs", "1"],
                                       environment: ["GITHUB_ACTIONS": "true"])
        #expect(run.status == 1)
        #expect(run.output.hasPrefix("TAP version 13\n1..1\nnot ok 1 - fault\n"), "\(run.output)")
        #expect(run.output.hasSuffix("Bail out! --fail-fast: 2 guests not run after a failure\n"), "\(run.output)")
        #expect(run.errors.contains("--fail-fast: stopped after a failure; 2 not run"), "\(run.errors)")
        #expect(run.errors.contains("::error title=vmm test%3A fault::FAIL: "), "\(run.errors)")
        let tap = directory + "/out.tap"
        let ok = runProcessSeparately(vmmExecutable, ["test", "--filter", "hello", "--tap", tap])
        #expect(ok.status == 0 && ok.output.hasPrefix("GUEST"))
        #expect(try String(contentsOfFile: tap, encoding: .utf8) == "TAP version 13\n1..1\nok 1 - hello\n")
    }

    /// Every subcommand's help reads at 80 columns and shows examples.
    @Test(arguments: [["--help"], ["run", "--help"], ["test", "--help"], ["msix-replay", "--help"]])
    func helpFitsEightyColumns(arguments: [String]) {
        let result = runProcessSeparately(vmmExecutable, arguments, environment: ["COLUMNS": "80"])
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            #expect(line.count <= 80, "\(arguments): \(line.count) columns: \(line)")
            // A sentence cut in the middle: a short line whose paragraph goes on in lower case on
            // the next (as when text wrapped by hand is wrapped again at 80 columns).
            if index + 1 < lines.count, line.count < 50, !line.hasPrefix(" "), let next = lines[index + 1].first, next.isLowercase {
                Issue.record("\(arguments): a sentence is cut after \"\(line)\"")
            }
        }
        // A default given in the text and again by the parser.
        let flowing = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flowing.firstRange(of: /\(default [^)]*\)\.? \(default:/) == nil, "\(arguments): a default printed twice")
        if arguments.count > 1 { #expect(result.output.contains("Examples:") || result.output.contains("EXAMPLES"), "\(arguments)") }
    }

    @Test func helpExplainsEveryOption() {
        let result = runProcess(vmmExecutable, ["run", "--help"])
        #expect(result.status == 0)
        for option in ["--memory", "--vcpus", "--timeout", "--quiet", "--cmdline", "--kvm-device"] {
            #expect(result.output.contains(option), "\(option) in --help")
        }
    }
}
