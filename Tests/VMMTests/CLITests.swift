import Foundation
import Testing
import TestSupport

/// The `vmm` executable as a user meets it: exit statuses and one-line errors.
@Suite(.enabled(if: kvmAvailable)) struct CLITests {
    @Test func withNoArgumentsItRunsTheConformanceSuite() {
        _ = guestDirectory
        let result = runProcess(vmmExecutable, [])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("GUEST"))
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
        (["run", projectRoot + "/Package.swift"], "Package.swift: no boot protocol found (no Multiboot header, no PVH note, not an ELF64 x86-64 executable)"),
        (["run", "--memory", "1"], "vmm: error: memory size 1 MiB is too small: the machine needs at least 2 MiB"),
        (["run", "--vcpus", "99"], "vmm: error: vCPU count 99 is out of range: 1…16"),
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
    ])
    func negativeAndZeroCountsAreExplained(arguments: [String], message: String) {
        let result = runProcess(vmmExecutable, arguments)
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains(message), "\(result.output)")
        #expect(!result.output.contains("Missing value"))
    }

    @Test func helpExplainsEveryOption() {
        let result = runProcess(vmmExecutable, ["run", "--help"])
        #expect(result.status == 0)
        for option in ["--memory", "--vcpus", "--timeout", "--quiet", "--cmdline", "--kvm-device"] {
            #expect(result.output.contains(option), "\(option) in --help")
        }
    }
}
