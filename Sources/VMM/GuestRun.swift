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
        let bytes = try HostFile.read(path, as: "guest")
        let modules = try initrds.map { BootModule(name: $0, bytes: try HostFile.read($0, as: "initrd")) }
        var configuration = configuration
        if choosingMachine {
            configuration.machine = MachineKind.default(for: try BootProtocols.choose(for: bytes, name: path, requested: protocolName))
        }
        let machine = try Machine(configuration)
        try machine.load(kernel: bytes, name: path, protocolName: protocolName, modules: modules)
        return (machine, machine.run(timeout: timeout))
    }
}
