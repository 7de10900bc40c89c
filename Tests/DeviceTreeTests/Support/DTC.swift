import Foundation

/// Runs the device-tree compiler on blobs. `dtc` comes from Debian's device-tree-compiler
/// package; CI installs it, so a missing `dtc` is a test failure with that hint, not a skip.
enum DTC {
    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "dtc not found in PATH: install device-tree-compiler (apt-get install -y device-tree-compiler); the device tree tests need it"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        let status: Int32
        let stderr: String
        var description: String { "dtc -I dtb -O dts exited with status \(status): \(stderr)" }
    }

    /// The decompiled source and whatever dtc printed on stderr (its warnings).
    struct Output {
        let source: String
        let warnings: String
    }

    static func executable() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("dtc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Missing()
    }

    /// Writes `blob` to a temporary file and runs `dtc -I dtb -O dts` on it.
    static func decompile(_ blob: [UInt8]) throws -> Output {
        let dtc = try executable()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fdt-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("tree.dtb")
        let output = directory.appendingPathComponent("tree.dts")
        let errors = directory.appendingPathComponent("stderr.txt")
        try Data(blob).write(to: input)
        guard FileManager.default.createFile(atPath: errors.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let errorHandle = try FileHandle(forWritingTo: errors)
        defer { try? errorHandle.close() }

        let process = Process()
        process.executableURL = dtc
        process.arguments = ["-I", "dtb", "-O", "dts", "-o", output.path, input.path]
        process.standardError = errorHandle
        try process.run()
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw Failed(status: process.terminationStatus, stderr: stderr)
        }
        return Output(source: try String(contentsOf: output, encoding: .utf8), warnings: stderr)
    }
}

/// The lines of a dts file grouped by node path, as dtc writes them (one property per line).
struct DTSText {
    /// Property lines (trimmed, e.g. `reg = <0x00 0x00>;`) per node path.
    private(set) var properties: [String: [String]] = [:]
    /// Node paths in the order dtc printed them.
    private(set) var nodes: [String] = []
    /// `/memreserve/` lines.
    private(set) var reservations: [String] = []

    init(_ source: String) {
        var stack: [String] = []
        for rawLine in source.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line == "/dts-v1/;" { continue }
            if line.hasPrefix("/memreserve/") {
                // dtc separates the fields with a tab; compare them with single spaces.
                reservations.append(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " "))
            } else if line.hasSuffix("{") {
                let name = line.dropLast().trimmingCharacters(in: .whitespaces)
                let path: String
                if let parent = stack.last {
                    path = parent == "/" ? "/" + name : parent + "/" + name
                } else {
                    path = name
                }
                stack.append(path)
                nodes.append(path)
                properties[path, default: []] = properties[path] ?? []
            } else if line == "};" {
                stack.removeLast()
            } else if let path = stack.last {
                properties[path, default: []].append(line)
            }
        }
    }

    func lines(of path: String) -> [String] { properties[path] ?? [] }
}
