import ArgumentParser
import Platform
import VMM

/// Options that shape the machine, shared by the subcommands that build one.
struct MachineOptions: ParsableArguments {
    @Option(name: .long, help: "Guest RAM, in MiB or with a unit: 64, 64M, 1G (default 64 MiB; 2 MiB steps, at least 2 MiB).",
            transform: MachineOptions.parseSize)
    var memory: UInt64 = 64 << 20

    @Option(name: .long, help: "Number of vCPUs; all start at the guest's entry point at once (default 1).")
    var vcpus: Int = 1

    @Option(name: .long, help: "Seconds before a run is stopped and reported as a timeout (default 5).")
    var timeout: Double = 5

    @Option(name: .long, help: "Guest command line, passed in the device tree's /chosen/bootargs.")
    var cmdline: String = ""

    @Option(name: .long, help: "MSI-X vectors of each test device, 1…2048 (default 16).")
    var msixVectors: Int = 16

    @Option(name: .long, help: "MSI-X test devices on PCI bus 0, from 00:01.0 on (default 1).")
    var testDevices: Int = 1

    @Flag(name: .long, help: "Do not echo the guest's console output.")
    var quiet = false

    @Option(name: .long, help: "The KVM device to open (default /dev/kvm).")
    var kvmDevice: String = "/dev/kvm"

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds, not \(timeout)") }
    }

    func configuration() -> MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.layout.ramSize = memory
        configuration.layout.vcpuCount = vcpus
        configuration.layout.commandLine = cmdline
        configuration.echoConsole = !quiet
        configuration.kvmDevicePath = kvmDevice
        configuration.msixVectors = msixVectors
        configuration.testDevices = testDevices
        return configuration
    }

    /// Parses "64" (MiB), "64M", "64MiB", "1G", "2048K".
    static func parseSize(_ text: String) throws -> UInt64 {
        let lower = text.lowercased()
        let digits = lower.prefix { $0.isNumber }
        var unit = lower.dropFirst(digits.count)
        if unit.hasSuffix("ib") { unit = unit.dropLast(2) } else if unit.hasSuffix("b") { unit = unit.dropLast() }
        guard let value = UInt64(digits) else { throw ValidationError("--memory \(text): not a size (try 64, 64M or 1G)") }
        let shift: UInt64
        switch unit {
        case "", "m": shift = 20
        case "k": shift = 10
        case "g": shift = 30
        default: throw ValidationError("--memory \(text): unknown unit '\(unit)' (use K, M or G)")
        }
        guard value <= (UInt64.max >> shift) else { throw ValidationError("--memory \(text): too large") }
        return value << shift
    }
}
