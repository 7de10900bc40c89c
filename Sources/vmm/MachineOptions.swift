import ArgumentParser
import Platform
import VMM

/// Options that shape the machine, shared by the subcommands that build one.
struct MachineOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional,
            help: "Guest RAM, in MiB or with a unit: 64, 64M, 1G (default 64 MiB; 2 MiB steps, at least 2 MiB).",
            transform: RunRequest.parseSize)
    var memory: UInt64 = RunRequest.defaults.memory

    @Option(name: .long, parsing: .unconditional,
            help: "Number of vCPUs (default 1, or one per --apic-ids ID); our own guests start all of them at the entry point at once.")
    var vcpus: Int?

    @Option(name: .customLong("apic-ids"), parsing: .unconditional,
            help: ArgumentHelp("Each vCPU's APIC ID, in vCPU order, e.g. 0,300 (default 0, 1, …). IDs from 255 up need x2APIC: the guest enables it, and the machine turns on KVM's 32-bit APIC IDs and advertises extended MSI destination IDs.", valueName: "ID,ID,…"),
            transform: RunRequest.parseAPICIDs)
    var apicIDs: [UInt32]?

    @Option(name: .long, parsing: .unconditional, help: "Seconds before a run is stopped and reported as a timeout.")
    var timeout: Double = RunRequest.defaults.timeout

    @Option(name: .long, help: "Kernel command line: Multiboot's and PVH's command line, or /chosen/bootargs of the device tree.")
    var cmdline: String = RunRequest.defaults.cmdline

    @Option(name: .long, parsing: .unconditional, help: "Base of the PCI ECAM window (1 MiB aligned), e.g. 0xB0000000 (default 0xE0000000).",
            transform: { try RunRequest.parseAddress($0, option: "--ecam-base") })
    var ecamBase: UInt64?

    @Option(name: .long, parsing: .unconditional,
            help: "The PCI 32-bit BAR window as BASE:SIZE, e.g. 0x80000000:0x10000000 (default 0xC0000000:0x20000000).",
            transform: RunRequest.parseWindow)
    var mmioWindow: RunRequest.Window?

    @Option(name: .long, parsing: .unconditional, help: "MSI-X vectors of each test device, 1…2048.")
    var msixVectors: Int = RunRequest.defaults.msixVectors

    @Option(name: .long, parsing: .unconditional, help: "MSI-X test devices on PCI bus 0, from 00:01.0 on, 0…31.")
    var testDevices: Int = RunRequest.defaults.testDevices

    @Option(name: .long, help: RouteCommits.help)
    var routeCommits: RouteCommits = RunRequest.defaults.routeCommits

    @Flag(name: .long, help: "Do not echo the guest's console output.")
    var quiet = false

    @Option(name: .long, help: "The KVM device to open.")
    var kvmDevice: String = RunRequest.defaults.kvmDevice

    func validate() throws {
        if let vcpus, let apicIDs, vcpus != apicIDs.count {
            throw ValidationError("--vcpus \(vcpus) and --apic-ids with \(apicIDs.count) IDs disagree: give one APIC ID per vCPU")
        }
        var request = RunRequest()
        apply(to: &request)
        try request.validateMachine()
    }

    /// The values, merged into `request`.
    func apply(to request: inout RunRequest) {
        request.memory = memory
        request.vcpus = vcpus ?? apicIDs?.count ?? RunRequest.defaults.vcpus
        request.apicIDs = apicIDs
        request.timeout = timeout
        request.cmdline = cmdline
        request.ecamBase = ecamBase
        request.mmioWindow = mmioWindow
        request.msixVectors = msixVectors
        request.testDevices = testDevices
        request.routeCommits = routeCommits
        request.quiet = quiet
        request.kvmDevice = kvmDevice
    }
}
