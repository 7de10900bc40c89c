import TextFormat

/// Multiboot 1 (the Multiboot Specification, version 0.6.96): a header in the first 8 KiB of the
/// image, 4-byte aligned (magic 0x1BADB002, flags, checksum); the kernel is an ELF (32- or
/// 64-bit, loaded by its program headers) or, with flag bit 16, a flat image placed by the
/// header's address fields (the "a.out kludge"). The bootstrap vCPU enters in 32-bit protected
/// mode with EAX = 0x2BADB002 and EBX = the information structure; the others wait for INIT/SIPI.
///
/// The information structure gives mem_lower/mem_upper, the command line (the kernel's name,
/// then `layout.commandLine`, as boot loaders and QEMU pass it), the modules (page-aligned after
/// the kernel, each with its name as its string), the memory map and the boot loader's name.
public struct MultibootBootProtocol: BootProtocol {
    public let name = "multiboot"
    /// The magic number that starts a Multiboot header (its first field).
    public static let headerMagic: UInt32 = 0x1BAD_B002
    /// The value in EAX at the kernel's entry, which tells it a Multiboot loader started it.
    public static let bootloaderMagic: UInt32 = 0x2BAD_B002
    /// The header must lie entirely in the image's first 8 KiB.
    public static let searchLength = 8192
    /// Requirement bits (0–15) this loader honours: 0 page-aligned modules (always done),
    /// 1 memory information (always given), 2 a video mode (ignored: there is no display).
    static let understood: UInt32 = 0b111
    static let addressFields: UInt32 = 1 << 16

    /// What the header says.
    public struct Header: Sendable, Equatable {
        /// Byte offset of the header's magic in the image (a multiple of 4, below 8 KiB).
        public let offset: Int
        /// The flags field: requirement bits 0–15, flag bit 16 for the address fields.
        public let flags: UInt32
        /// The checksum field as stored; magic + flags + checksum must be 0 modulo 2^32.
        public let checksum: UInt32
        /// header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr (flag bit 16).
        public let addresses: (header: UInt32, load: UInt32, loadEnd: UInt32, bssEnd: UInt32, entry: UInt32)?

        public static func == (a: Header, b: Header) -> Bool {
            a.offset == b.offset && a.flags == b.flags && a.checksum == b.checksum
                && a.addresses.map { [$0.header, $0.load, $0.loadEnd, $0.bssEnd, $0.entry] } == b.addresses.map { [$0.header, $0.load, $0.loadEnd, $0.bssEnd, $0.entry] }
        }
    }

    /// The protocol; it holds no state.
    public init() {}

    /// The header: the first 4-byte-aligned magic in the first 8 KiB whose checksum holds, as
    /// GRUB and QEMU take it (the magic's value may occur earlier as data), or else the first
    /// magic, whose bad checksum `plan` then reports rather than mistaking the image for another
    /// protocol's.
    public static func findHeader(in image: [UInt8]) -> Header? {
        let end = min(image.count, searchLength)
        guard end >= 12 else { return nil }
        return image.withUnsafeBytes { raw -> Header? in
            func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
            func header(at offset: Int) -> Header {
                let flags = u32(offset + 4)
                var addresses: (UInt32, UInt32, UInt32, UInt32, UInt32)?
                // The whole header, address fields included, must lie in the first 8 KiB (spec §3.1.1).
                if flags & addressFields != 0, offset + 32 <= end {
                    addresses = (u32(offset + 12), u32(offset + 16), u32(offset + 20), u32(offset + 24), u32(offset + 28))
                }
                return Header(offset: offset, flags: flags, checksum: u32(offset + 8), addresses: addresses)
            }
            var first: Int?
            for offset in stride(from: 0, through: end - 12, by: 4) where u32(offset) == headerMagic {
                if headerMagic &+ u32(offset + 4) &+ u32(offset + 8) == 0 { return header(at: offset) }
                first = first ?? offset
            }
            return first.map(header(at:))
        }
    }

    public func recognizes(_ image: [UInt8]) -> Bool { Self.findHeader(in: image) != nil }

    public func plan(_ request: BootRequest) throws -> BootPlan {
        let image = request.image, ram = request.layout.ramSize
        try PCBootData.checkRAM(ram, protocolName: name)
        guard let header = Self.findHeader(in: image) else {
            throw BootError.protocolNotInImage(protocolName: name, image: request.name, lacks: "no Multiboot header in the first 8 KiB")
        }
        let sum = Self.headerMagic &+ header.flags &+ header.checksum
        guard sum == 0 else { throw BootError.multibootBadChecksum(image: request.name, offset: header.offset, sum: sum) }
        guard header.flags & 0xFFFF & ~Self.understood == 0 else {
            throw BootError.multibootUnsupportedFlags(image: request.name, flags: header.flags)
        }
        var writes = [PCBootData.gdtWrite()]
        let entry: UInt64, kernelEnd: UInt64
        if header.flags & Self.addressFields != 0 {
            let (kernel, start, end) = try flatKernel(header, request)
            writes += kernel
            entry = start
            kernelEnd = end
        } else {
            let elf = try ELFImage(bytes: image, name: request.name, accepting: .elf32OrElf64)
            try PCBootData.checkKernel(elf.segments.map { ($0.address, $0.end) }, protocolName: name, image: request.name)
            writes += try elf.writes(ramSize: ram, reservedEnd: PCBootData.lowKernelStart, name: request.name)
            entry = elf.entry
            kernelEnd = elf.extent.high
        }
        guard entry < 1 << 32 else { throw BootError.entryAbove4GiB(protocolName: name, image: request.name, entry: entry) }
        guard entry < ram else { throw BootError.entryOutsideRAM(protocolName: name, image: request.name, entry: entry, ramSize: ram) }

        var data = PCBootData(protocolName: name)
        let info = try data.reserve(88, alignment: 8)
        let commandLine = request.layout.commandLine.isEmpty ? request.name : request.name + " " + request.layout.commandLine
        let commandLineAddress = try data.placeString(commandLine)
        let loaderName = try data.placeString("vmm")
        var map = LittleEndianWriter()
        for range in PCBootData.memoryMap(ramSize: ram, highRAMSize: request.layout.highRAMSize) {
            map.u32(20)  // the size of the entry after this field
            map.u64(range.base)
            map.u64(range.size)
            map.u32(range.type)
        }
        let mapAddress = try data.place(map.bytes)
        // The information structure's addresses are 32-bit: modules stay below 4 GiB.
        let modules = try placeModules(request.modules, after: max(kernelEnd, PCBootData.highMemoryStart), ramSize: min(ram, 1 << 32))
        var list = LittleEndianWriter()
        for (module, placed) in zip(request.modules, modules) {
            list.u32(UInt32(placed.address))
            list.u32(UInt32(placed.address + UInt64(module.bytes.count)))  // one past the last byte
            list.u32(UInt32(try data.placeString(module.name)))
            list.u32(0)
        }
        let listAddress = try data.place(list.bytes)
        writes += modules.map(\.write)

        var fields = LittleEndianWriter()
        // flags: memory (0), command line (2), modules (3), memory map (6), boot loader name (9).
        fields.u32(1 << 0 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9)
        fields.u32(UInt32(PCBootData.conventionalEnd / 1024))  // mem_lower, KiB from 0
        fields.u32(UInt32(truncatingIfNeeded: (ram - PCBootData.highMemoryStart) / 1024))  // mem_upper, KiB from 1 MiB
        fields.u32(0)  // boot_device: none
        fields.u32(UInt32(commandLineAddress))
        fields.u32(UInt32(request.modules.count))
        fields.u32(UInt32(listAddress))
        for _ in 0..<4 { fields.u32(0) }  // syms
        fields.u32(UInt32(map.bytes.count))
        fields.u32(UInt32(mapAddress))
        for _ in 0..<3 { fields.u32(0) }  // drives, config table
        fields.u32(UInt32(loaderName))
        for _ in 0..<5 { fields.u32(0) }  // APM, VBE
        data.store(fields.bytes, at: info)
        writes.append(data.write)

        let vcpus = (0..<request.layout.vcpuCount).map { index in
            index == 0 ? BootPlan.VCPUStart.protectedMode(eip: UInt32(entry), eax: Self.bootloaderMagic, ebx: UInt32(info)) : .waitForSIPI
        }
        return BootPlan(protocolName: name, writes: writes, vcpus: vcpus)
    }

    /// The a.out-kludge image: [load_addr, load_end_addr) from the file, where header_addr
    /// corresponds to the header's offset; zeroes up to bss_end_addr. Returns the writes, the
    /// entry and the end of the kernel.
    private func flatKernel(_ header: Header, _ request: BootRequest) throws -> ([BootPlan.Write], UInt64, UInt64) {
        let image = request.image, ram = request.layout.ramSize
        func bad(_ detail: String) -> BootError { .multibootBadAddresses(image: request.name, detail: detail) }
        guard let a = header.addresses else { throw bad("flag bit 16 is set but the header's address fields run past the end of the file or of its first 8 KiB") }
        guard a.load <= a.header, Int(a.header - a.load) <= header.offset else {
            throw bad("load_addr \(hex(a.load)) must not be above header_addr \(hex(a.header)) nor before the file's start")
        }
        let fileStart = header.offset - Int(a.header - a.load)
        let loadSize: Int
        if a.loadEnd == 0 {
            loadSize = image.count - fileStart
        } else {
            guard a.loadEnd >= a.load, Int(a.loadEnd - a.load) <= image.count - fileStart else {
                throw bad("load_end_addr \(hex(a.loadEnd)) is before load_addr \(hex(a.load)) or past the file's end")
            }
            loadSize = Int(a.loadEnd - a.load)
        }
        let loadEnd = UInt64(a.load) + UInt64(loadSize)
        guard a.bssEnd == 0 || UInt64(a.bssEnd) >= loadEnd else {
            throw bad("bss_end_addr \(hex(a.bssEnd)) is before the loaded data's end \(hex(loadEnd))")
        }
        let end = max(loadEnd, UInt64(a.bssEnd))
        try PCBootData.checkKernel([(UInt64(a.load), end)], protocolName: name, image: request.name)
        guard end <= ram else { throw ELFError.doesNotFit(request.name, address: UInt64(a.load), size: end - UInt64(a.load), ramSize: ram) }
        guard UInt64(a.entry) >= UInt64(a.load), UInt64(a.entry) < end else {
            throw bad("entry_addr \(hex(a.entry)) is outside the kernel [\(hex(a.load)), \(hex(end)))")
        }
        var writes: [BootPlan.Write] = [.bytes(at: UInt64(a.load), Array(image[fileStart..<(fileStart + loadSize)]))]
        if end > loadEnd { writes.append(.zero(at: loadEnd, count: end - loadEnd)) }
        return (writes, UInt64(a.entry), end)
    }
}
