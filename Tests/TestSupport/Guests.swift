import Foundation

/// The project root, from this file's location.
public let projectRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TestSupport/<file>
    return url.path
}()

/// Builds the guests once per test process (Scripts/build-guests.sh is incremental) and returns
/// the folder holding `<name>.elf`.
public let guestDirectory: String = {
    let output = projectRoot + "/.build/guests"
    let result = runProcess(projectRoot + "/Scripts/build-guests.sh", [output])
    if result.status != 0 { print("building guests failed:\n\(result.output)") }
    return output
}()

/// The path of built guest `name`.
public func guest(_ name: String) -> String { guestDirectory + "/" + name + ".elf" }

/// Runs an executable to completion (killing it after `timeout` seconds), returning its status
/// and combined output.
public func runProcess(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                       timeout: Double = 600) -> (status: Int32, output: String) {
    let run = runProcessSeparately(path, arguments, environment: environment, timeout: timeout, mergeErrors: true)
    return (run.status, run.output)
}

/// Runs `path` like `runProcess`, with standard error kept apart from standard output (unless
/// `mergeErrors`): `output` is what it wrote to stdout, `errors` what it wrote to stderr.
public func runProcessSeparately(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                                 timeout: Double = 600, mergeErrors: Bool = false) -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let pipe = Pipe()
    process.standardOutput = pipe
    // Standard error goes to a file, so neither stream can fill its pipe while the other is read.
    let errorPath = NSTemporaryDirectory() + "vmm-stderr-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errorPath) }
    guard let errorFile = FileHandle(forWritingAtPath: errorPath) else { return (-1, "", "cannot create \(errorPath)") }
    process.standardError = mergeErrors ? pipe : errorFile
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch { return (-1, "cannot start \(path): \(error)", "") }
    let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    try? errorFile.close()
    let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, String(decoding: data, as: UTF8.self), errors)
}


/// The Linux test guest (Scripts/build-linux-guest.sh, cached by content hash, so only a first
/// run builds), built once per test process: its folder (vmlinux, bzImage, initramfs.cpio), or
/// nil and the script's output when it could not be built.
public let linuxGuest: (directory: String?, output: String) = {
    let result = runProcessSeparately(projectRoot + "/Scripts/build-linux-guest.sh", [], timeout: 1800)
    let directory = result.output.split(separator: "\n").last.map(String.init)
    return (result.status == 0 ? directory : nil, result.output + result.errors)
}()

/// The kernel command line the Linux test guest boots with (Guests/linux/cmdline).
public let linuxCommandLine: String = {
    let text = (try? String(contentsOfFile: projectRoot + "/Guests/linux/cmdline", encoding: .utf8)) ?? ""
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}()
