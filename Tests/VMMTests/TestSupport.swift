import Foundation
import KVM
import Testing
import TestSupport
import VMM


/// A machine configuration for tests: quiet console, diagnostics collected instead of printed.
func quietConfiguration(vcpus: Int = 1) -> MachineConfiguration {
    var configuration = MachineConfiguration()
    configuration.echoConsole = false
    configuration.layout.vcpuCount = vcpus
    configuration.log = { _ in }
    return configuration
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
