/// PVH (Xen's "x86/HVM direct boot ABI", which Linux, FreeBSD and others implement): an ELF
/// kernel (32- or 64-bit) with the note XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen", type 18) giving
/// a 32-bit physical entry point. The bootstrap vCPU enters there in 32-bit protected mode with
/// EBX = an `hvm_start_info` structure, version 1: command line, module list, memory map and the
/// RSDP's address (0 when the machine has no ACPI tables); the others wait for INIT/SIPI.
public struct PVHBootProtocol: BootProtocol {
    public let name = "pvh"
    /// The owner name of the entry note.
    public static let noteOwner = "Xen"
    /// The entry note's type, XEN_ELFNOTE_PHYS32_ENTRY.
    public static let entryNoteType: UInt32 = 18
    /// The first field of `hvm_start_info`, `XEN_HVM_START_MAGIC_VALUE`.
    public static let startInfoMagic: UInt32 = 0x336E_C578

    /// The protocol; it holds no state.
    public init() {}

    /// The entry point the note gives, or nil when the image has no such note.
    public static func entryPoint(of image: ELFImage) -> UInt64? {
        guard let note = image.notes.first(where: { $0.name == noteOwner && $0.type == entryNoteType }),
              note.descriptor.count >= 4 else { return nil }
        return note.descriptor.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    public func recognizes(_ image: [UInt8]) -> Bool {
        guard let elf = try? ELFImage(bytes: image, accepting: .elf32OrElf64) else { return false }
        return Self.entryPoint(of: elf) != nil
    }

    public func plan(_ request: BootRequest) throws -> BootPlan {
        let ram = request.layout.ramSize
        try PCBootData.checkRAM(ram, protocolName: name)
        let elf = try ELFImage(bytes: request.image, name: request.name, accepting: .elf32OrElf64)
        guard let entry = Self.entryPoint(of: elf) else {
            throw BootError.protocolNotInImage(protocolName: name, image: request.name, lacks: "no XEN_ELFNOTE_PHYS32_ENTRY note")
        }
        guard entry < 1 << 32 else { throw BootError.entryAbove4GiB(protocolName: name, image: request.name, entry: entry) }
        guard entry < ram else { throw BootError.entryOutsideRAM(protocolName: name, image: request.name, entry: entry, ramSize: ram) }
        try PCBootData.checkKernel(elf.segments.map { ($0.address, $0.end) }, protocolName: name, image: request.name)
        var writes = [PCBootData.gdtWrite()]
        writes += try elf.writes(ramSize: ram, reservedEnd: PCBootData.lowKernelStart, name: request.name)

        var data = PCBootData(protocolName: name)
        let startInfo = try data.reserve(56, alignment: 8)
        let commandLine = try data.placeString(request.layout.commandLine)
        let ranges = PCBootData.memoryMap(ramSize: ram, highRAMSize: request.layout.highRAMSize)
        var map = LittleEndianWriter()
        for range in ranges {
            map.u64(range.base)
            map.u64(range.size)
            map.u32(range.type)
            map.u32(0)
        }
        let mapAddress = try data.place(map.bytes)
        let modules = try placeModules(request.modules, after: max(elf.extent.high, PCBootData.highMemoryStart), ramSize: ram)
        var list = LittleEndianWriter()
        for (module, placed) in zip(request.modules, modules) {
            list.u64(placed.address)
            list.u64(UInt64(module.bytes.count))
            list.u64(try data.placeString(module.name))
            list.u64(0)
        }
        let listAddress = request.modules.isEmpty ? 0 : try data.place(list.bytes)
        writes += modules.map(\.write)

        var info = LittleEndianWriter()
        info.u32(Self.startInfoMagic)
        info.u32(1)  // version
        info.u32(0)  // flags
        info.u32(UInt32(request.modules.count))
        info.u64(listAddress)
        info.u64(commandLine)
        info.u64(request.rsdpAddress ?? 0)
        info.u64(mapAddress)
        info.u32(UInt32(ranges.count))
        info.u32(0)
        data.store(info.bytes, at: startInfo)
        writes.append(data.write)

        let vcpus = (0..<request.layout.vcpuCount).map { index in
            index == 0 ? BootPlan.VCPUStart.protectedMode(eip: UInt32(entry), eax: 0, ebx: UInt32(startInfo)) : .waitForSIPI
        }
        return BootPlan(protocolName: name, writes: writes, vcpus: vcpus)
    }
}
