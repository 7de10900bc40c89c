import Platform

/// Every boot protocol over the input as a kernel image (with a module and a command line taken
/// from its first bytes): each either plans a boot whose writes lie in RAM and which starts
/// every vCPU, or throws. A trap, or a plan outside RAM, is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBootLoaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var layout = MachineLayout()
    layout.ramSize = 8 << 20
    layout.vcpuCount = 2
    let control = bytes.first ?? 0
    layout.commandLine = String(repeating: "x", count: Int(control & 0x0F) * 300)
    let modules = control & 0x10 != 0 ? [BootModule(name: "m", bytes: [UInt8](repeating: 1, count: Int(control) << 12))] : []
    for proto in BootProtocols.all {
        _ = proto.recognizes(bytes)
        let request = BootRequest(image: bytes, name: "fuzz", layout: layout, modules: proto.name == "elf64" ? [] : modules)
        guard let plan = try? proto.plan(request) else { continue }
        do {
            try plan.validate(ramSize: layout.ramSize, vcpuCount: layout.vcpuCount)
        } catch {
            fatalError("\(proto.name) planned outside RAM: \(error)")
        }
    }
    _ = try? BootProtocols.choose(for: bytes, name: "fuzz")
    return 0
}
