import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
import GuestSuite
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

    @Test(arguments: suiteEntries.map(\.name))
    func guestMeetsItsExpectation(name: String) throws {
        let entry = try #require(suiteEntries.first { $0.name == name })
        let result = SuiteRunner.runOne(entry, base: quietConfiguration(), timeout: 60)
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
        #expect(xml.contains("<testcase classname=\"vmm.guests\" name=\"ok\" time=\"0.013\"/>"))
        #expect(xml.contains("<failure message=\"&lt;x&gt; &amp; &quot;y&quot;?\" type=\"FAIL\">FAIL: &lt;x&gt; &amp; &quot;y&quot;?\n</failure>"))
        #expect(xml.contains("<error message=\"no such file\" type=\"ERROR\">"))
        // It parses as XML.
        let document = try XMLDocument(xmlString: xml)
        #expect(try document.nodes(forXPath: "//testcase").count == 3)
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
        #expect(throws: VMMError.guestFile(path: directory + "/suite.txt", reason: "line 2: cannot read 'vcpus=x'")) {
            try SuiteEntry.load(directory: directory)
        }
        try "a vcpus=2 expect=timeout\n".write(toFile: directory + "/suite.txt", atomically: true, encoding: .utf8)
        #expect(try SuiteEntry.load(directory: directory) == [SuiteEntry(name: "a", path: directory + "/a.elf", vcpus: 2, expectation: .timeout)])
    }
}
