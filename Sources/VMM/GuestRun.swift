import Platform

extension Machine {
    /// Builds a machine for `configuration`, loads the ELF at `path`, runs it for at most `timeout`
    /// seconds and returns the machine (for its console transcript and devices) and the outcome.
    /// Throws, with a message naming the file or value, when the machine cannot be built or the
    /// guest cannot be loaded.
    public static func runGuest(at path: String, configuration: MachineConfiguration, timeout: Double) throws -> (Machine, RunOutcome) {
        let bytes = try HostFile.read(path)
        let image = try ELFImage(bytes: bytes, name: path)
        let machine = try Machine(configuration)
        try machine.load(image, name: path)
        return (machine, machine.run(timeout: timeout))
    }
}
