import Platform

extension Machine {
    /// Builds a machine for `configuration`, loads the ELF at `path`, runs it for at most `timeout`
    /// seconds and returns the machine (for its console transcript and devices) and the outcome.
    /// Throws, with a message naming the file or value, when the machine cannot be built or the
    /// guest cannot be loaded.
    ///
    /// The boot protocol is the one `protocolName` names, or the image's own (`BootProtocols`);
    /// `initrds` are files handed to the kernel as its modules. With `choosingMachine`, the
    /// protocol picks the machine too: pc for Multiboot, PVH and Linux kernels, ours for ELF64 guests.
    public static func runGuest(at path: String, configuration: MachineConfiguration, timeout: Double,
                                protocolName: String? = nil, initrds: [String] = [],
                                choosingMachine: Bool = false) throws -> (Machine, RunOutcome) {
        let guest = try GuestFiles(path: path, configuration: configuration, protocolName: protocolName,
                                   initrds: initrds, choosingMachine: choosingMachine)
        let machine = try Machine(guest.configuration)
        try machine.load(kernel: guest.kernel, name: path, protocolName: protocolName, modules: guest.modules)
        return (machine, machine.run(timeout: timeout))
    }
}

/// A guest image and its modules read from the host, with the configuration it boots on (as
/// `Machine.runGuest` reads them; `vmm run --dump-boot` plans from the same).
public struct GuestFiles: Sendable {
    /// The configuration to build the machine with (its kind chosen from the image, if asked).
    public var configuration: MachineConfiguration
    /// The image's bytes.
    public var kernel: [UInt8]
    /// The initrds, in the order given: the boot protocol's module list.
    public var modules: [BootModule]

    /// Reads the image at `path` and the `initrds`; with `choosingMachine`, the image's boot
    /// protocol (or `protocolName`) picks the machine kind. Throws naming the file that cannot be
    /// read or the protocol the image lacks.
    public init(path: String, configuration: MachineConfiguration, protocolName: String? = nil,
                initrds: [String] = [], choosingMachine: Bool = false) throws {
        kernel = try HostFile.read(path, as: "guest")
        modules = try initrds.map { BootModule(name: $0, bytes: try HostFile.read($0, as: "initrd")) }
        self.configuration = configuration
        if choosingMachine {
            self.configuration.machine = MachineKind.default(for: try BootProtocols.choose(for: kernel, name: path, requested: protocolName))
        }
    }
}
