/// This project's own boot protocol (README: "Our own guest boot protocol"): an ELF64 executable whose
/// PT_LOAD segments are copied to their physical addresses at or above 1 MiB; every vCPU starts
/// at the entry point at once, in 64-bit long mode, with RSP = its stack top, RDI = the device
/// tree's address, RSI = its index.
public struct ELF64BootProtocol: BootProtocol {
    public let name = "elf64"

    /// The protocol; it holds no state.
    public init() {}

    /// An ELF64 x86-64 executable (the header parses); other protocols are tried first.
    public func recognizes(_ image: [UInt8]) -> Bool {
        (try? ELFImage(bytes: image)) != nil
    }

    /// Modules are refused (this protocol has no way to pass them).
    public func plan(_ request: BootRequest) throws -> BootPlan {
        if let first = request.modules.first { throw BootError.modulesUnsupported(protocolName: name, module: first.name) }
        return try plan(ELFImage(bytes: request.image, name: request.name), name: request.name, layout: request.layout,
                        deviceTree: request.deviceTree)
    }

    /// The plan for an image already parsed.
    public func plan(_ image: ELFImage, name: String, layout: MachineLayout, deviceTree: [UInt8]) throws -> BootPlan {
        guard UInt64(deviceTree.count) <= BootLayout.deviceTreeMaxSize else {
            throw ELFError.deviceTreeTooLarge(size: deviceTree.count, maximum: BootLayout.deviceTreeMaxSize)
        }
        var writes = LongMode.tableWrites()
        writes += try image.writes(ramSize: layout.ramSize, name: name)
        writes.append(.zero(at: BootLayout.deviceTreeAddress, count: BootLayout.deviceTreeMaxSize))
        writes.append(.bytes(at: BootLayout.deviceTreeAddress, deviceTree))
        let vcpus = (0..<layout.vcpuCount).map { index in
            BootPlan.VCPUStart.longMode(rip: image.entry, rsp: BootLayout.stackTop(vcpu: index),
                                        rdi: BootLayout.deviceTreeAddress, rsi: UInt64(index))
        }
        return BootPlan(protocolName: self.name, writes: writes, vcpus: vcpus)
    }
}
