import ArgumentParser
import Platform
import VMM

/// Options that shape the machine, shared by the subcommands that build one.
struct MachineOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional,
            help: "Guest RAM, in MiB or with a unit: 64, 64M, 1G (default 64 MiB; 2 MiB steps, at least 2 MiB).",
            transform: MachineOptions.parseSize)
    var memory: UInt64 = 64 << 20

    @Option(name: .long, parsing: .unconditional, help: "Number of vCPUs; all start at the guest's entry point at once.")
    var vcpus: Int = 1

    @Option(name: .long, parsing: .unconditional, help: "Seconds before a run is stopped and reported as a timeout.")
    var timeout: Double = 5

    @Option(name: .long, help: "Kernel command line: Multiboot's and PVH's command line, or /chosen/bootargs of the device tree.")
    var cmdline: String = ""

    @Option(name: .long, parsing: .unconditional, help: "Base of the PCI ECAM window (1 MiB aligned), e.g. 0xB0000000 (default 0xE0000000).",
            transform: { try MachineOptions.parseAddress($0, option: "--ecam-base") })
    var ecamBase: UInt64?

    @Option(name: .long, parsing: .unconditional,
            help: "The PCI 32-bit BAR window as BASE:SIZE, e.g. 0x80000000:0x10000000 (default 0xC0000000:0x20000000).",
            transform: MachineOptions.parseWindow)
    var mmioWindow: Window?

    @Option(name: .long, parsing: .unconditional, help: "MSI-X vectors of each test device, 1…2048.")
    var msixVectors: Int = 16

    @Option(name: .long, parsing: .unconditional, help: "MSI-X test devices on PCI bus 0, from 00:01.0 on, 0…31.")
    var testDevices: Int = 1

    @Flag(name: .long, help: "Do not echo the guest's console output.")
    var quiet = false

    @Option(name: .long, help: "The KVM device to open.")
    var kvmDevice: String = "/dev/kvm"

    /// What the parser can judge alone: signs and ranges that no machine could take. Whether a
    /// machine can be built from the values (sizes against the layout) is the machine's to say.
    func validate() throws {
        guard timeout > 0, timeout <= 86400 else { throw ValidationError("--timeout must be a number of seconds in (0, 86400], not \(timeout)") }
        guard vcpus > 0 else { throw ValidationError("--vcpus must be positive, not \(vcpus)") }
        guard msixVectors > 0 else { throw ValidationError("--msix-vectors must be positive, not \(msixVectors)") }
        guard testDevices >= 0 else { throw ValidationError("--test-devices must be 0 or more, not \(testDevices)") }
    }

    func configuration() -> MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.layout.ramSize = memory
        configuration.layout.vcpuCount = vcpus
        configuration.layout.commandLine = cmdline
        if let ecamBase { configuration.layout.ecamBase = ecamBase }
        if let mmioWindow {
            configuration.layout.mmioWindowBase = mmioWindow.base
            configuration.layout.mmioWindowSize = mmioWindow.size
        }
        configuration.echoConsole = !quiet
        configuration.kvmDevicePath = kvmDevice
        configuration.msixVectors = msixVectors
        configuration.testDevices = testDevices
        return configuration
    }

    struct Window {
        var base: UInt64
        var size: UInt64
    }

    /// Parses "0x1000", "4096".
    static func parseAddress(_ text: String, option: String) throws -> UInt64 {
        let lower = text.lowercased()
        let value = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower)
        guard let value else {
            throw ValidationError("\(option) \(text): '\(text)' is not an address (use 0x… hex or decimal\(text.hasPrefix("-") ? "; it must be positive" : ""))")
        }
        return value
    }

    /// Parses "BASE:SIZE".
    static func parseWindow(_ text: String) throws -> Window {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw ValidationError("--mmio-window \(text): expected BASE:SIZE, e.g. 0x80000000:0x10000000") }
        return Window(base: try parseAddress(String(parts[0]), option: "--mmio-window"),
                      size: try parseAddress(String(parts[1]), option: "--mmio-window"))
    }

    /// Parses "64" (MiB), "64M", "64MiB", "1G", "2048K".
    static func parseSize(_ text: String) throws -> UInt64 {
        let lower = text.lowercased()
        let digits = lower.prefix { $0.isNumber }
        var unit = lower.dropFirst(digits.count)
        if unit.hasSuffix("ib") { unit = unit.dropLast(2) } else if unit.hasSuffix("b") { unit = unit.dropLast() }
        guard let value = UInt64(digits) else {
            throw ValidationError("--memory \(text): not a size (try 64, 64M or 1G\(text.hasPrefix("-") ? "; it must be positive" : ""))")
        }
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
