import VMM
/// The guest conformance suite: which built guests to run, with how many vCPUs, and what outcome
/// each must have, and what it checks. Read from `suite.txt`, which `Scripts/build-guests.sh`
/// writes beside the guests from the `vcpus:`, `expect:` and `checks:` lines of each guest's README.
public struct SuiteEntry: Sendable, Equatable {
    /// What a guest must do for its test to pass.
    public enum Expectation: String, Sendable {
        /// Write 0 to the exit port.
        case pass
        /// Fail: a non-zero exit value or a vCPU stopping on an exit it cannot go on from.
        case fail
        /// Run until the runner stops it.
        case timeout
    }

    /// The guest's name: its folder under `Guests/`, and the first word of its manifest line.
    public var name: String
    /// The host path of the guest's built ELF (`load` gives `directory/NAME.elf`).
    public var path: String
    /// vCPUs of the guest's machine (the manifest's `vcpus=`, default 1).
    public var vcpus: Int
    /// The vCPUs' APIC IDs (the manifest's `apic-ids=A,B,…`; nil: 0, 1, …).
    public var apicIDs: [UInt32]?
    /// The outcome the guest must have (the manifest's `expect=`, default `.pass`).
    public var expectation: Expectation
    /// One sentence on what the guest checks (the manifest's `checks=`, empty when none).
    public var checks: String

    /// An entry for the guest at `path`, by default on one vCPU and expected to pass.
    public init(name: String, path: String, vcpus: Int = 1, expectation: Expectation = .pass, checks: String = "") {
        self.name = name
        self.path = path
        self.vcpus = vcpus
        self.expectation = expectation
        self.checks = checks
    }

    /// Loads `directory/suite.txt`: "NAME vcpus=N apic-ids=A,B,… expect=pass|fail|timeout
    /// checks=TEXT" per line,
    /// every word but the name optional; `checks=` comes last and takes the rest of the line.
    ///
    /// Throws `VMMError.unreadableFile` naming the manifest when it cannot be read, or with the line
    /// number and the word when a line holds anything else.
    public static func load(directory: String) throws(VMMError) -> [SuiteEntry] {
        let path = directory + "/suite.txt"
        let bytes: [UInt8]
        do { bytes = try HostFile.read(path) } catch { throw .unreadableFile(kind: "suite manifest", path: path, reason: "missing (run Scripts/build-guests.sh)") }
        var entries: [SuiteEntry] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated() {
            var line = Substring(line)
            var checks = ""
            if let range = line.firstRange(of: " checks=") {
                checks = String(line[range.upperBound...])
                line = line[..<range.lowerBound]
            }
            let words = line.split(separator: " ")
            guard let name = words.first else { continue }
            var entry = SuiteEntry(name: String(name), path: directory + "/" + name + ".elf", checks: checks)
            for word in words.dropFirst() {
                let pair = word.split(separator: "=", maxSplits: 1).map(String.init)
                switch (pair.first, pair.count == 2 ? pair[1] : nil) {
                case let ("vcpus", value?) where Int(value) != nil: entry.vcpus = Int(value) ?? 1
                case let ("apic-ids", value?) where Self.apicIDs(value) != nil: entry.apicIDs = Self.apicIDs(value)
                case let ("expect", value?) where Expectation(rawValue: value) != nil: entry.expectation = Expectation(rawValue: value) ?? .pass
                default: throw .unreadableFile(kind: "suite manifest", path: path, reason: "line \(number + 1): cannot read '\(word)'")
                }
            }
            if let ids = entry.apicIDs, ids.count != entry.vcpus {
                throw .unreadableFile(kind: "suite manifest", path: path, reason: "line \(number + 1): \(ids.count) APIC IDs for \(entry.vcpus) vCPUs")
            }
            entries.append(entry)
        }
        return entries
    }

    /// "A,B,…" as APIC IDs (decimal), nil when a part is not one.
    private static func apicIDs(_ text: String) -> [UInt32]? {
        let ids = text.split(separator: ",", omittingEmptySubsequences: false).map { UInt32($0) }
        return ids.contains(nil) ? nil : ids.compactMap { $0 }
    }
}
