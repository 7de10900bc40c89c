import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
import GuestSuite
import Interrupts
import VMM

/// The suite manifest's entries, read after building the guests (empty when the build failed,
/// which `theManifestListsTheGuests` reports).
let suiteEntries: [SuiteEntry] = (try? SuiteEntry.load(directory: guestDirectory)) ?? []

/// The conformance suite under `swift test`: every guest of the manifest, each as its own case.
@Suite(.enabled(if: kvmAvailable)) struct ConformanceSuiteTests {
    @Test func theManifestListsTheGuests() throws {
        let names = try SuiteEntry.load(directory: guestDirectory).map(\.name)
        for name in ["hello", "smp", "exits", "fault", "spin", "pci-enum"] { #expect(names.contains(name), "\(name)") }
        #expect(!names.contains("bench"), "benchmarks are not part of the suite")
    }

    /// Every guest of the suite says what it checks (its README's `checks:` line).
    @Test func everyGuestSaysWhatItChecks() {
        for entry in suiteEntries { #expect(!entry.checks.isEmpty, "\(entry.name): no checks: line in Guests/\(entry.name)/README.md") }
    }

    /// With stopAfterFailure no guest starts after one fails: a failing first guest, one job,
    /// and the two after it never run.
    @Test func stopAfterFailureStartsNothingMoreOnceAGuestFails() throws {
        let hello = try #require(suiteEntries.first { $0.name == "hello" })
        var failing = try #require(suiteEntries.first { $0.name == "fault" })
        failing.expectation = .pass
        let ran = SuiteRunner.run([failing, hello, hello], base: quietConfiguration(), timeout: 20, jobs: 1, stopAfterFailure: true)
        #expect(ran.map(\.entry.name) == ["fault"])
        #expect(SuiteRunner.run([failing, hello], base: quietConfiguration(), timeout: 20, jobs: 1).map(\.passed) == [false, true])
    }

    @Test(arguments: suiteEntries.map(\.name))
    func guestMeetsItsExpectation(name: String) throws {
        let entry = try #require(suiteEntries.first { $0.name == name })
        let result = SuiteRunner.runOne(entry, base: quietConfiguration(), timeout: 60)
        #expect(result.passed, "\(name): \(result.status) \(result.message)\n\(result.transcript)")
    }

    /// Machines coalesce route commits by default; the MSI-X guests pass with a commit at the end
    /// of every guest access too, where the irqfd path is there as soon as an unmask returns.
    @Test(arguments: suiteEntries.map(\.name).filter { $0.hasPrefix("msix-") })
    func msixGuestMeetsItsExpectationWithImmediateRouteCommits(name: String) throws {
        let entry = try #require(suiteEntries.first { $0.name == name })
        var configuration = quietConfiguration()
        configuration.routeCommits = .immediate
        let result = SuiteRunner.runOne(entry, base: configuration, timeout: 60)
        #expect(result.passed, "\(name): \(result.status) \(result.message)\n\(result.transcript)")
    }
}

@Suite struct SuiteReportTests {
    func result(_ name: String, _ outcome: RunOutcome?, expect: SuiteEntry.Expectation = .pass, transcript: String = "", error: String? = nil) -> SuiteResult {
        SuiteResult(entry: SuiteEntry(name: name, path: "/x/\(name).elf", expectation: expect), outcome: outcome, error: error,
                    seconds: 0.0125, interrupts: 7, transcript: transcript)
    }

    @Test func expectationsDecidePassAndTheGuestsFailLineIsTheMessage() {
        #expect(result("a", .guestExit(value: 0)).passed)
        #expect(!result("a", .guestExit(value: 1)).passed)
        #expect(result("f", .vcpuFailed(vcpu: 0, exit: "INTERNAL_ERROR", rip: 1), expect: .fail).passed)
        #expect(result("f", .guestExit(value: 3), expect: .fail).passed)
        #expect(!result("f", .guestExit(value: 0), expect: .fail).passed)
        #expect(result("s", .timeout(seconds: 1), expect: .timeout).passed)
        #expect(result("s", .timeout(seconds: 1)).status == "TIMEOUT")
        #expect(result("e", nil, error: "cannot read guest").status == "ERROR")
        let failed = result("m", .guestExit(value: 1), transcript: "checking\nFAIL: msix-pending: PBA bit not set\n")
        #expect(failed.message == "msix-pending: PBA bit not set")
        #expect(failed.status == "FAIL")
    }

    @Test func theTableEndsWithTheCountsCIReads() {
        let table = SuiteReport.table([result("a", .guestExit(value: 0)), result("b", .guestExit(value: 1))])
        let lines = table.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines.last == "1 passed, 1 failed")
        #expect(lines[1].hasPrefix("a      PASS     13 ms      7"))
    }

    @Test func junitEscapesGuestTextAndCountsFailuresAndErrors() throws {
        let xml = SuiteReport.junit([
            result("ok", .guestExit(value: 0)),
            result("bad", .guestExit(value: 1), transcript: "FAIL: <x> & \"y\"\u{1}\n"),
            result("err", nil, error: "no such file"),
        ])
        #expect(xml.contains("<testsuite name=\"vmm-guests\" tests=\"3\" failures=\"1\" errors=\"1\" time=\"0.038\">"))
        #expect(xml.contains("<testcase classname=\"vmm.guests\" name=\"ok\" time=\"0.013\">"))
        #expect(xml.contains("<failure message=\"&lt;x&gt; &amp; &quot;y&quot;?\" type=\"FAIL\"/>"))
        #expect(xml.contains("<error message=\"no such file\" type=\"ERROR\"/>"))
        // It parses as XML, and each testcase carries its guest's transcript in system-out, as
        // read back by an XML parser (escaping undone, the control character replaced).
        let document = try XMLDocument(xmlString: xml)
        #expect(try document.nodes(forXPath: "//testcase").count == 3)
        let outputs = try document.nodes(forXPath: "//testcase/system-out").map { $0.stringValue ?? "" }
        #expect(outputs == ["", "FAIL: <x> & \"y\"?\n", ""])
        let passing = SuiteReport.junit([result("ok", .guestExit(value: 0), transcript: "hello from vCPU 0\n")])
        #expect(try XMLDocument(xmlString: passing).nodes(forXPath: "//testcase[@name='ok']/system-out").first?.stringValue == "hello from vCPU 0\n")
        #expect(try XMLDocument(xmlString: passing).nodes(forXPath: "//failure").isEmpty)
    }

    /// TAP 13 as Perl's TAP::Parser (the parser `prove` uses) reads it: the plan, each guest's
    /// result and description, the YAML block of a failure, and a bail-out after --fail-fast.
    @Test func tapIsReadBackByPerlsTAPParser() throws {
        let results = [result("ok", .guestExit(value: 0)), result("bad#2", .guestExit(value: 1), transcript: "FAIL: x: \"y\"\n"),
                       result("err", nil, error: "no such file")]
        let tap = SuiteReport.tap(results, notRun: 2)
        #expect(tap.hasPrefix("TAP version 13\n1..3\nok 1 - ok\nnot ok 2 - bad-2\n  ---\n  status: FAIL\n  message: \"x: \\\"y\\\"\"\n"))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perl") else {
            if kvmRequired { Issue.record("perl is not installed (Scripts/setup.sh installs it)") }
            return
        }
        let file = NSTemporaryDirectory() + "vmm-\(UUID().uuidString).tap"
        try tap.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        // Prints, per result line, "number ok|notok description"; then the YAML message of test 2,
        // the plan, and whether the parser saw a bail-out and any parse error.
        let script = """
            use TAP::Parser; my $p = TAP::Parser->new({ source => $ARGV[0] }); my ($yaml, $bail) = ("", "");
            while (my $r = $p->next) {
              if ($r->is_test) { print $r->number, " ", ($r->is_ok ? "ok" : "notok"), " ", $r->description, "\\n" }
              if ($r->is_yaml && !$yaml) { $yaml = $r->data->{message} }
              if ($r->is_bailout) { $bail = $r->explanation }
            }
            print "yaml=$yaml\\nplan=", $p->plan, "\\nbail=$bail\\nerrors=", scalar($p->parse_errors), " version=", $p->version, "\\n";
            """
        let run = runProcess("/usr/bin/perl", ["-e", script, file])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output == """
            1 ok - ok
            2 notok - bad-2
            3 notok - err
            yaml=x: "y"
            plan=1..3
            bail=--fail-fast: 2 guests not run after a failure
            errors=0 version=13

            """, "\(run.output)")
    }

    /// A failed guest becomes one ::error line with its first failed check; the title escapes
    /// ':' and ',', the message '%' and line breaks, as the Actions runner expects.
    @Test func githubAnnotationsNameTheGuestAndItsFirstFailedCheck() {
        let lines = SuiteReport.githubAnnotations([
            result("ok", .guestExit(value: 0)),
            result("msix-pending", .guestExit(value: 1), transcript: "FAIL: PBA bit, vector 3: 100% wrong\nFAIL: later\n"),
            result("err", nil, error: "cannot read guest /x/err.elf:\nno such file"),
        ])
        #expect(lines == [
            "::error title=vmm test%3A msix-pending::FAIL: PBA bit, vector 3: 100%25 wrong",
            "::error title=vmm test%3A err::ERROR: cannot read guest /x/err.elf:%0Ano such file",
        ])
    }

    /// `--list`: a header and one line per entry with vCPUs, expectation and what it checks.
    @Test func theListShowsWhatEachGuestChecks() {
        let list = SuiteReport.list([SuiteEntry(name: "hello", path: "/x", checks: "console output"),
                                     SuiteEntry(name: "spin", path: "/y", vcpus: 2, expectation: .timeout)])
        #expect(list == "GUEST  VCPUS  EXPECT   CHECKS\nhello  1      pass     console output\nspin   2      timeout  \n")
    }

    @Test func jsonIsValidAndCarriesEachField() throws {
        let text = SuiteReport.json([result("a\"b", .guestExit(value: 0)), result("c", .guestExit(value: 1), transcript: "FAIL: x\ty\n")])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["passed"] as? Int == 1)
        #expect(object["failed"] as? Int == 1)
        let tests = try #require(object["tests"] as? [[String: Any]])
        #expect(tests[0]["name"] as? String == "a\"b")
        #expect(tests[1]["message"] as? String == "x\ty")
        #expect(tests[1]["interrupts"] as? Int == 7)
    }

    @Test func aBrokenManifestLineIsNamed() throws {
        let directory = NSTemporaryDirectory() + "suite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "a vcpus=2 expect=timeout\nb vcpus=x\n".write(toFile: directory + "/suite.txt", atomically: true, encoding: .utf8)
        #expect(throws: VMMError.unreadableFile(kind: "suite manifest", path: directory + "/suite.txt", reason: "line 2: cannot read 'vcpus=x'")) {
            try SuiteEntry.load(directory: directory)
        }
        try "a vcpus=2 expect=timeout\nb checks=x=1, y expect=fail  \n".write(toFile: directory + "/suite.txt", atomically: true, encoding: .utf8)
        #expect(try SuiteEntry.load(directory: directory) == [
            SuiteEntry(name: "a", path: directory + "/a.elf", vcpus: 2, expectation: .timeout),
            SuiteEntry(name: "b", path: directory + "/b.elf", checks: "x=1, y expect=fail  "),
        ])
    }
}
