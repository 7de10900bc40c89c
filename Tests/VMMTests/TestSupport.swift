import Foundation
import KVM
import Testing
import TestSupport
import VMM


/// The project root, from this file's location.
let projectRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// Builds the guests once per test process (Scripts/build-guests.sh is incremental) and returns
/// the folder holding `<name>.elf`.
let guestDirectory: String = {
    let output = projectRoot + "/.build/guests"
    let result = runProcess(projectRoot + "/Scripts/build-guests.sh", [output])
    if result.status != 0 { print("building guests failed:\n\(result.output)") }
    return output
}()

/// The path of built guest `name`.
func guest(_ name: String) -> String { guestDirectory + "/" + name + ".elf" }

/// A machine configuration for tests: quiet console, diagnostics collected instead of printed.
func quietConfiguration(vcpus: Int = 1) -> MachineConfiguration {
    var configuration = MachineConfiguration()
    configuration.echoConsole = false
    configuration.layout.vcpuCount = vcpus
    configuration.log = { _ in }
    return configuration
}

/// Runs an executable to completion (killing it after `timeout` seconds), returning its status
/// and combined output.
func runProcess(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                timeout: Double = 600) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch { return (-1, "cannot start \(path): \(error)") }
    let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The `vmm` executable built beside the test bundle.
let vmmExecutable: String = {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = testBinary.deletingLastPathComponent()
    // The xctest bundle may be a directory (…/X.xctest/…); walk up to the folder holding `vmm`.
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("vmm").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    return projectRoot + "/.build/debug/vmm"
}()
