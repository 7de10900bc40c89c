import Platform

extension FuzzTarget {
    /// Every boot protocol over the input as a kernel image (with a module, a command line and
    /// high RAM chosen by its first byte): each either plans a boot whose writes lie in RAM and
    /// which starts every vCPU, or throws.
    static func bootLoaders(_ bytes: [UInt8]) throws(FuzzFailure) {
        var layout = MachineLayout()
        layout.ramSize = 8 << 20
        layout.vcpuCount = 2
        let control = bytes.first ?? 0
        layout.commandLine = String(repeating: "x", count: Int(control & 0x0F) * 300)
        layout.highRAMSize = control & 0x20 != 0 ? 2 << 20 : 0
        // A module of 4 KiB to 60 KiB, or (rarely) one larger than RAM.
        let moduleSize = control & 0xC0 == 0xC0 ? Int(layout.ramSize) + 4096 : Int(control & 0x0F + 1) << 12
        let modules = control & 0x10 != 0 ? [BootModule(name: "m", bytes: [UInt8](repeating: 1, count: moduleSize))] : []
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
