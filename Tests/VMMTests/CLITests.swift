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
        (["run", projectRoot + "/Package.swift"], "Package.swift: not an ELF file (bad magic)"),
        (["run", "--memory", "1"], "vmm: error: memory size 1 MiB is too small: the machine needs at least 2 MiB"),
        (["run", "--vcpus", "99"], "vmm: error: vCPU count 99 is out of range: 1…16"),
        (["run", "--kvm-device", "/dev/nonexistent-kvm"], "vmm: error: cannot open /dev/nonexistent-kvm: ENOENT"),
        (["run", "--mmio-window", "0xC0000000:0x100000001"], "PCI MMIO window at 0xc0000000 (0x100000001 bytes) must lie below 4 GiB"),
        (["run", "--ecam-base", "0xE0000100"], "ECAM at 0xe0000100 must be 1 MiB aligned"),
        (["run", "--msix-vectors", "4096"], "MSI-X vector count 4096 is out of range 1…2048"),
    ])
    func badHostInputGetsOneLineAndANonZeroStatus(arguments: [String], message: String) {
        _ = guestDirectory
        let result = runProcess(vmmExecutable, arguments)
        #expect(result.status == 2)
        #expect(result.output.contains(message), "\(result.output)")
        #expect(result.output.split(separator: "\n").count == 1, "one line: \(result.output)")
        #expect(!result.output.contains("Fatal error"))
    }

    @Test func helpExplainsEveryOption() {
        let result = runProcess(vmmExecutable, ["run", "--help"])
        #expect(result.status == 0)
        for option in ["--memory", "--vcpus", "--timeout", "--quiet", "--cmdline", "--kvm-device"] {
            #expect(result.output.contains(option), "\(option) in --help")
        }
    }
}
