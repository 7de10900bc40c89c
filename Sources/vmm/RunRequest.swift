import ArgumentParser
import GuestSuite
import Platform
import VMM

#if canImport(Glibc)
import Glibc
#endif

/// What `vmm run` was asked to do, whichever parser read the command line: ArgumentParser's
/// (`RunCommand`, `MachineOptions`) or the start-up fast path (`RunFastPath`). Both produce one of
/// these and run it, so a run behaves the same whichever way it was parsed; the defaults here are
/// the options' defaults.
struct RunRequest: Equatable {
    var guest: String?
    var memory: UInt64 = 64 << 20
    var vcpus = 1
    var timeout: Double = 5
    var cmdline = ""
    var ecamBase: UInt64?
    var mmioWindow: Window?
    var msixVectors = 16
    var testDevices = 1
    var quiet = false
    var kvmDevice = "/dev/kvm"
    var bootProtocol = "auto"
    var initrd: [String] = []
    var machineKind = "auto"
    var dumpDtb: String?
    var dumpBoot: String?
    var stats = false
    var routeCommits = RouteCommits.coalesced
    var apicIDs: [UInt32]?
    /// `--disk FILE[,readonly]`, as given.
    var disks: [String] = []
    var virtioRNG = false

    /// The options' defaults.
    static let defaults = RunRequest()

    /// A BAR window given as BASE:SIZE.
    struct Window: Equatable {
        var base: UInt64
        var size: UInt64
    }

    /// The checks of the machine's options that the parser can judge alone: signs and ranges no
    /// machine could take. Whether a machine can be built from the values (sizes against the
    /// layout) is the machine's to say.
    func validateMachine() throws {
        guard timeout > 0, timeout <= 86400 else { throw ValidationError("--timeout must be a number of seconds in (0, 86400], not \(timeout)") }
        guard vcpus > 0 else { throw ValidationError("--vcpus must be positive, not \(vcpus)") }
        guard msixVectors > 0 else { throw ValidationError("--msix-vectors must be positive, not \(msixVectors)") }
        guard testDevices >= 0 else { throw ValidationError("--test-devices must be 0 or more, not \(testDevices)") }
    }

    /// The checks of `run`'s own options.
    func validateRun() throws {
        guard machineKind == "auto" || MachineKind(rawValue: machineKind) != nil else {
            throw ValidationError("--machine must be auto, vmm or pc, not '\(machineKind)'")
        }
        guard BootProtocols.names.contains(bootProtocol) else {
            throw ValidationError("--boot-protocol must be one of \(BootProtocols.names.joined(separator: ", ")), not '\(bootProtocol)'")
        }
    }

    /// The machine these options describe.
    func configuration() -> MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.layout.ramSize = memory
        configuration.layout.vcpuCount = vcpus
        configuration.layout.apicIDs = apicIDs
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
        configuration.routeCommits = routeCommits.policy
        if let kind = MachineKind(rawValue: machineKind) { configuration.machine = kind }
        if virtioRNG { configuration.devices.append(VirtioComponent.entropy()) }
        for (index, spec) in disks.enumerated() {
            // Checked by validation; a spec that gets here unchecked is skipped rather than trapped.
            guard let (path, readOnly) = try? Self.parseDisk(spec) else { continue }
            configuration.devices.append(VirtioComponent.disk(path: path, readOnly: readOnly, name: "virtio-blk\(index)"))
        }
        return configuration
    }

    /// Boots the guest (or writes the device tree) and throws `ExitCode` with the run's status;
    /// a host-side error exits with status 2 after one line on standard error.
    func run() throws {
        if let dumpDtb {
            do {
                try HostFile.write(try configuration().deviceTree(), to: dumpDtb)
            } catch {
                fail("\(error)")
            }
            return
        }
        let path: String
        if let guest {
            path = guest
        } else if let builtIn = BuiltInGuests.path(of: "hello") {
            path = builtIn
        } else {
            fail("the built-in hello guest is not built; run Scripts/build-guests.sh (searched \(BuiltInGuests.searchDirectories().first ?? "nothing"))")
        }
        if let dumpBoot {
            do {
                let files = try GuestFiles(path: path, configuration: configuration(), protocolName: bootProtocol,
                                           initrds: initrd, choosingMachine: machineKind == "auto")
                let (plan, _) = try files.configuration.bootPlan(kernel: files.kernel, name: path, protocolName: bootProtocol,
                                                                 modules: files.modules)
                try HostFile.write(plan.image(ramSize: files.configuration.layout.ramSize), to: dumpBoot)
            } catch {
                fail("\(error)")
            }
            return
        }
        let outcome: RunOutcome
        do {
            let (vm, result) = try Machine.runGuest(at: path, configuration: configuration(), timeout: timeout,
                                                    protocolName: bootProtocol, initrds: initrd, choosingMachine: machineKind == "auto")
            outcome = result
            if stats { report(vm.statistics.line) }
        } catch {
            fail("\(error)")
        }
        if !outcome.passed || !quiet { report(outcome.description) }
        throw ExitCode(outcome.exitStatus)
    }

    // MARK: Values, as both parsers read them

    /// Parses `--disk`: FILE, or FILE,readonly.
    static func parseDisk(_ text: String) throws -> (path: String, readOnly: Bool) {
        if text.hasSuffix(",readonly") { return (String(text.dropLast(",readonly".count)), true) }
        guard !text.isEmpty else { throw ValidationError("--disk needs a file: FILE or FILE,readonly") }
        if let comma = text.lastIndex(of: ","), !text[text.index(after: comma)...].contains("/") {
            throw ValidationError("--disk \(text): unknown option '\(text[text.index(after: comma)...])' (only readonly)")
        }
        return (text, false)
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

    /// Parses `--apic-ids`: APIC IDs separated by commas, decimal or 0x… hex, none twice.
    static func parseAPICIDs(_ text: String) throws -> [UInt32] {
        var ids: [UInt32] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let word = part.filter { $0 != " " }.lowercased()
            let id = word.hasPrefix("0x") ? UInt32(word.dropFirst(2), radix: 16) : UInt32(word)
            guard let id else {
                throw ValidationError("'\(part)' is not an APIC ID (0…4294967295, decimal or 0x… hex)")
            }
            guard !ids.contains(id) else { throw ValidationError("APIC ID \(id) is listed twice") }
            ids.append(id)
        }
        return ids
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

/// Prints "vmm: <message>" on standard error.
func report(_ message: String) {
    MachineConfiguration.standardError(message)
}

/// Prints "vmm: error: <message>" on standard error and exits with status 2.
func fail(_ message: String) -> Never {
    report("error: " + message)
    exit(2)
}
