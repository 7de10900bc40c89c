import Platform

extension FuzzTarget {
    /// Every boot protocol over the input as a kernel image (with a module, a command line and
    /// high RAM chosen by its first byte): each either plans a boot whose writes lie in RAM and
    /// which starts every vCPU, or throws.
    static func bootLoaders(_ bytes: [UInt8]) throws(FuzzFailure) {
        var layout = MachineLayout()
        layout.ramSize = UInt64(BootLoaderInputs.ramSize)
        layout.vcpuCount = 2
        let control = bytes.first ?? 0
        layout.commandLine = BootLoaderInputs.commandLines[Int(control & 0x0F)]
        layout.highRAMSize = control & 0x20 != 0 ? 2 << 20 : 0
        // A module of 4 KiB to 64 KiB, or one larger than RAM.
        let module = control & 0xC0 == 0xC0 ? BootLoaderInputs.moduleLargerThanRAM : BootLoaderInputs.modules[Int(control & 0x0F)]
        let modules = control & 0x10 != 0 ? [module] : []
        for proto in BootProtocols.all {
            _ = proto.recognizes(bytes)
            let request = BootRequest(image: bytes, name: "fuzz", layout: layout, modules: proto.name == "elf64" ? [] : modules)
            guard let plan = try? proto.plan(request) else { continue }
            do {
                try plan.validate(ramSize: layout.ramSize, vcpuCount: layout.vcpuCount)
            } catch {
                throw FuzzFailure("\(proto.name) planned outside RAM: \(error)")
            }
        }
        _ = try? BootProtocols.choose(for: bytes, name: "fuzz")
    }
}

/// What the boot-loader target's first byte chooses, made once: building an 8 MiB module and a
/// 4,500-character command line afresh for every input cost a third of each execution (page
/// faults and one-character appends). The loaders only read them.
private enum BootLoaderInputs {
    static let ramSize = 8 << 20
    /// Command lines of 0 to 4,500 characters.
    static let commandLines = (0..<16).map { String(decoding: [UInt8](repeating: 0x78, count: $0 * 300), as: UTF8.self) }
    /// Modules of 4 KiB to 64 KiB.
    static let modules = (0..<16).map { BootModule(name: "m", bytes: [UInt8](repeating: 1, count: ($0 + 1) << 12)) }
    static let moduleLargerThanRAM = BootModule(name: "m", bytes: [UInt8](repeating: 1, count: ramSize + 4096))
}
