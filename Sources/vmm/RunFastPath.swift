/// The start-up fast path of `vmm run`: reads the plain command lines a run is usually given
/// without ArgumentParser.
///
/// ArgumentParser reflects over every option of the command (Mirror, then a protocol-conformance
/// lookup per property type, each a scan of every conformance record in the binary). On a null
/// guest that was half the instructions of the whole process, and the scans touched pages all
/// over the binary. This reader takes only `run`, an optional guest path first, then options
/// from a short list, each as `--name VALUE` or a bare flag, and returns nil for anything else:
/// an unknown or repeated option, `--name=VALUE`, a value that starts with "-", help, a second
/// positional, a value that does not parse or validate. ArgumentParser then reads the command
/// line as usual, with its messages. Values are parsed by the same functions and checked by the
/// same rules as there, and a test holds the two readers to the same result
/// (Tests/CommandLineTests).
enum RunFastPath {
    /// The request for `arguments` (without the program name), or nil when ArgumentParser
    /// should read them.
    static func parse(_ arguments: [String]) -> RunRequest? {
        guard arguments.first == "run" else { return nil }
        var request = RunRequest()
        var seen: Set<String> = []
        var rest = arguments.dropFirst()
        if let first = rest.first, !first.hasPrefix("-") {
            request.guest = first
            rest = rest.dropFirst()
        }
        while let name = rest.popFirst() {
            if name == "--quiet" || name == "--stats" {
                guard seen.insert(name).inserted else { return nil }
                if name == "--quiet" { request.quiet = true } else { request.stats = true }
                continue
            }
            guard let value = rest.popFirst(), !value.hasPrefix("-") else { return nil }
            guard name == "--initrd" || seen.insert(name).inserted else { return nil }
            do {
                switch name {
                case "--memory": request.memory = try RunRequest.parseSize(value)
                case "--vcpus": guard let n = Int(value) else { return nil }; request.vcpus = n
                case "--timeout": guard let t = Double(value) else { return nil }; request.timeout = t
                case "--cmdline": request.cmdline = value
                case "--initrd": request.initrd.append(value)
                case "--boot-protocol": request.bootProtocol = value
                case "--machine": request.machineKind = value
                default: return nil
                }
            } catch {
                return nil
            }
        }
        do {
            try request.validateMachine()
            try request.validateRun()
        } catch {
            return nil
        }
        return request
    }
}
