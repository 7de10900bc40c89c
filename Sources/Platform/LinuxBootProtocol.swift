/// The Linux x86 boot protocol (Linux's `Documentation/x86/boot.rst`), by its 64-bit entry, for
/// a `bzImage` (its setup header says where its kernel is) and for an ELF `vmlinux` (a "Linux"
/// note marks it; the loader writes a setup header for it, as other VMMs do).
///
/// The kernel gets a zero page (`struct boot_params`): the image's setup header with the
/// loader's fields filled in (type_of_loader 0xFF, LOADED_HIGH, the command line, the initrd),
/// the E820 memory map and the RSDP's address. The bootstrap vCPU enters at the 64-bit entry
/// (a bzImage's kernel + 0x200, a vmlinux's ELF entry) in long mode with the low 4 GiB
/// identity-mapped, CS = __BOOT_CS (0x10), DS = ES = SS = __BOOT_DS (0x18), interrupts off and
/// RSI = the zero page; the others wait for INIT/SIPI.
///
/// ```
///  0x0000_1000  GDT (null, null, code64 = 0x10, data = 0x18); page tables at 0x9000–0xEFFF
///  0x0001_0000  boot data: zero page (4 KiB aligned), command line
///  0x0010_0000  a bzImage's kernel (or its preferred address if relocatable); a vmlinux by its
///               program headers (at or above 1 MiB)
///      …        the initrd: page-aligned, as high as RAM and the kernel's initrd_addr_max allow
/// ```
public struct LinuxBootProtocol: BootProtocol {
    public let name = "linux"
    /// The setup header's magic at offset 0x202, "HdrS".
    public static let headerMagic: UInt32 = 0x5372_6448
    /// The boot sector's flag at offset 0x1FE.
    public static let bootFlag: UInt16 = 0xAA55
    /// The oldest protocol version with a 64-bit entry (2.12 introduced `xloadflags`).
    public static let minimumVersion: UInt16 = 0x020C
    /// The version this loader writes into the header it makes for a `vmlinux` (Linux 6.1's).
    public static let vmlinuxVersion: UInt16 = 0x020F
    /// Offset of the 64-bit entry from the start of a bzImage's protected-mode kernel.
    public static let entryOffset64: UInt64 = 0x200
    /// The stack pointer at entry: the top of the free page below the page tables (the kernel
    /// sets its own stack before it uses one).
    public static let stackTop: UInt64 = BootLayout.pml4Address
    /// Bytes in the zero page.
    public static let zeroPageSize = 4096
    /// The most E820 entries the zero page holds.
    public static let maxE820Entries = 128

    // Setup header and zero page offsets (boot.rst; arch/x86/include/uapi/asm/bootparam.h).
    static let setupSectsOffset = 0x1F1, bootFlagOffset = 0x1FE, jumpOffset = 0x200, headerOffset = 0x202
    static let versionOffset = 0x206, typeOfLoaderOffset = 0x210, loadFlagsOffset = 0x211, code32StartOffset = 0x214
    static let ramdiskImageOffset = 0x218, ramdiskSizeOffset = 0x21C, cmdLinePtrOffset = 0x228
    static let initrdAddrMaxOffset = 0x22C, kernelAlignmentOffset = 0x230, relocatableOffset = 0x234
    static let xloadflagsOffset = 0x236, cmdlineSizeOffset = 0x238, prefAddressOffset = 0x258, initSizeOffset = 0x260
    static let acpiRSDPOffset = 0x070, extRamdiskImageOffset = 0x0C0, extRamdiskSizeOffset = 0x0C4
    static let e820EntriesOffset = 0x1E8, e820TableOffset = 0x2D0
    /// The setup header ends at most here in `struct boot_params` (padding follows).
    static let headerLimit = 0x290
    static let loadedHigh: UInt8 = 1 << 0
    static let xlfKernel64: UInt16 = 1 << 0

    /// What a bzImage's setup header says (the fields this loader reads).
    public struct SetupHeader: Sendable, Equatable {
        /// Sectors of real-mode setup code after the boot sector (0 means 4).
        public let setupSectors: Int
        /// The boot protocol version (0x020C is 2.12).
        public let version: UInt16
        /// xloadflags: bit 0 says the kernel has a 64-bit entry.
        public let xloadflags: UInt16
        /// Where a non-relocatable kernel's protected-mode part runs (0x100000).
        public let code32Start: UInt32
        /// The highest address the initrd may end at (inclusive).
        public let initrdAddressMax: UInt32
        /// Whether the kernel may load anywhere (at `preferredAddress` by this loader).
        public let relocatable: Bool
        /// Where a relocatable kernel would like to be loaded.
        public let preferredAddress: UInt64
        /// Bytes the kernel needs from its load address while it decompresses and starts.
        public let initSize: UInt32
        /// The longest command line the kernel takes, without its NUL.
        public let commandLineSize: UInt32
        /// Offset of the first byte after the header (0x202 + the byte at 0x201).
        public let end: Int

        /// Bytes of the image before the protected-mode kernel: the boot sector and the setup code.
        public var setupBytes: Int { ((setupSectors == 0 ? 4 : setupSectors) + 1) * 512 }
    }

    /// The protocol; it holds no state.
    public init() {}

    /// The setup header of a bzImage (the boot flag and "HdrS" present), or nil.
    public static func setupHeader(of image: [UInt8]) -> SetupHeader? {
        guard image.count >= 0x264, u16(image, bootFlagOffset) == bootFlag, u32(image, headerOffset) == headerMagic else { return nil }
        let version = u16(image, versionOffset)
        func field<T: FixedWidthInteger>(_ offset: Int, since minimum: UInt16, _ read: ([UInt8], Int) -> T) -> T {
            version >= minimum && image.count >= offset + T.bitWidth / 8 ? read(image, offset) : 0
        }
        return SetupHeader(
            setupSectors: Int(image[setupSectsOffset]), version: version,
            xloadflags: field(xloadflagsOffset, since: 0x020C, u16),
            code32Start: u32(image, code32StartOffset),
            initrdAddressMax: version >= 0x0203 ? u32(image, initrdAddrMaxOffset) : 0x37FF_FFFF,
            relocatable: field(relocatableOffset, since: 0x0205) { $0[$1] } != 0,
            preferredAddress: field(prefAddressOffset, since: 0x020A, u64),
            initSize: field(initSizeOffset, since: 0x020A, u32),
            commandLineSize: version >= 0x0206 ? u32(image, cmdlineSizeOffset) : 255,
            end: min(headerOffset + Int(image[jumpOffset + 1]), headerLimit, image.count))
    }

    /// Whether `image` is an ELF64 x86-64 executable carrying a note owned by "Linux" (every
    /// `vmlinux` has one: the build salt).
    public static func isVmlinux(_ image: [UInt8]) -> Bool {
        guard let elf = try? ELFImage(bytes: image) else { return false }
        return elf.notes.contains { $0.name == "Linux" }
    }

    public func recognizes(_ image: [UInt8]) -> Bool {
        Self.setupHeader(of: image) != nil || Self.isVmlinux(image)
    }

    /// What the loader places for a kernel image: the writes of the kernel itself, where it
    /// enters, the end of what it occupies, and the setup header to start the zero page from.
    private struct Kernel {
        var writes: [BootPlan.Write]
        var entry: UInt64
        var end: UInt64
        var header: [UInt8]
        var initrdLimit: UInt64
        var commandLineLimit: Int
    }

    public func plan(_ request: BootRequest) throws -> BootPlan {
        let ram = request.layout.ramSize
        try PCBootData.checkRAM(ram, protocolName: name)
        guard request.modules.count <= 1 else { throw BootError.tooManyInitrds(protocolName: name, count: request.modules.count) }
        let kernel: Kernel
        if let header = Self.setupHeader(of: request.image) {
            kernel = try bzImage(request.image, header: header, name: request.name, ramSize: ram)
        } else if Self.isVmlinux(request.image) {
            kernel = try vmlinux(ELFImage(bytes: request.image, name: request.name), name: request.name, ramSize: ram)
        } else {
            throw BootError.protocolNotInImage(protocolName: name, image: request.name, lacks: BootProtocols.lacks(name))
        }

        var writes = LongMode.tableWrites(gdt: .linux) + kernel.writes
        var data = PCBootData(protocolName: name)
        let zeroPage = try data.reserve(Self.zeroPageSize, alignment: 0x1000)
        var page = [UInt8](repeating: 0, count: Self.zeroPageSize)
        page.replaceSubrange(Self.setupSectsOffset..<(Self.setupSectsOffset + kernel.header.count), with: kernel.header)
        page[Self.typeOfLoaderOffset] = 0xFF
        page[Self.loadFlagsOffset] |= Self.loadedHigh

        let commandLine = Array(request.layout.commandLine.utf8)
        guard commandLine.count <= kernel.commandLineLimit else {
            throw BootError.commandLineTooLong(length: commandLine.count, maximum: kernel.commandLineLimit)
        }
        Self.store32(&page, Self.cmdLinePtrOffset, UInt32(try data.placeString(request.layout.commandLine)))

        if let initrd = request.modules.first {
            let size = UInt64(initrd.bytes.count)
            let top = min(ram, kernel.initrdLimit)
            let kernelEnd = (kernel.end + 0xFFF) & ~0xFFF
            guard size <= top, (top - size) & ~0xFFF >= kernelEnd else {
                throw BootError.initrdDoesNotFit(initrd: initrd.name, size: initrd.bytes.count, from: kernelEnd, below: top)
            }
            let address = (top - size) & ~0xFFF
            writes.append(.bytes(at: address, initrd.bytes))
            Self.store32(&page, Self.ramdiskImageOffset, UInt32(truncatingIfNeeded: address))
            Self.store32(&page, Self.ramdiskSizeOffset, UInt32(truncatingIfNeeded: size))
            Self.store32(&page, Self.extRamdiskImageOffset, UInt32(truncatingIfNeeded: address >> 32))
            Self.store32(&page, Self.extRamdiskSizeOffset, UInt32(truncatingIfNeeded: size >> 32))
        }
        if let rsdp = request.rsdpAddress { Self.store64(&page, Self.acpiRSDPOffset, rsdp) }

        let map = PCBootData.memoryMap(ramSize: ram, highRAMSize: request.layout.highRAMSize)
        page[Self.e820EntriesOffset] = UInt8(map.count)
        for (index, range) in map.prefix(Self.maxE820Entries).enumerated() {
            let at = Self.e820TableOffset + 20 * index
            Self.store64(&page, at, range.base)
            Self.store64(&page, at + 8, range.size)
            Self.store32(&page, at + 16, range.type)
        }
        data.store(page, at: zeroPage)
        writes.append(data.write)

        let vcpus = (0..<request.layout.vcpuCount).map { index in
            index == 0 ? BootPlan.VCPUStart.linux64(rip: kernel.entry, bootParams: zeroPage) : .waitForSIPI
        }
        return BootPlan(protocolName: name, writes: writes, vcpus: vcpus)
    }

    private func bzImage(_ image: [UInt8], header: SetupHeader, name imageName: String, ramSize: UInt64) throws -> Kernel {
        guard header.version >= Self.minimumVersion else {
            throw BootError.linuxProtocolTooOld(image: imageName, version: header.version, minimum: Self.minimumVersion)
        }
        guard header.xloadflags & Self.xlfKernel64 != 0 else { throw BootError.linuxNo64BitEntry(image: imageName) }
        guard image.count > header.setupBytes else {
            throw BootError.linuxTruncated(image: imageName, need: header.setupBytes + 1, have: image.count)
        }
        let load = header.relocatable && header.preferredAddress >= PCBootData.highMemoryStart
            ? header.preferredAddress : UInt64(header.code32Start)
        guard load >= PCBootData.highMemoryStart else {
            throw BootError.kernelOverlapsLowMemory(protocolName: name, image: imageName, address: load)
        }
        let payload = Array(image[header.setupBytes...])
        let (end, overflow) = load.addingReportingOverflow(max(UInt64(payload.count), UInt64(header.initSize)))
        guard !overflow, end <= ramSize else {
            throw BootError.kernelDoesNotFit(protocolName: name, image: imageName, address: load, end: end, ramSize: ramSize)
        }
        return Kernel(writes: [.bytes(at: load, payload)], entry: load + Self.entryOffset64, end: end,
                      header: Array(image[Self.setupSectsOffset..<header.end]),
                      initrdLimit: UInt64(header.initrdAddressMax) + 1,
                      commandLineLimit: min(Int(header.commandLineSize), PCBootData.maxCommandLine))
    }

    private func vmlinux(_ elf: ELFImage, name imageName: String, ramSize: UInt64) throws -> Kernel {
        let writes: [BootPlan.Write]
        do {
            writes = try elf.writes(ramSize: ramSize, reservedEnd: PCBootData.highMemoryStart, name: imageName)
        } catch ELFError.doesNotFit(_, let address, let size, let ram) {
            throw BootError.kernelDoesNotFit(protocolName: name, image: imageName, address: address, end: address &+ size, ramSize: ram)
        }
        // The header a bzImage would carry, with what a vmlinux implies: the magic, the flag,
        // this loader's version, a 64-bit entry, and Linux's own command-line limit.
        var header = [UInt8](repeating: 0, count: Self.headerLimit - Self.setupSectsOffset)
        func at(_ offset: Int) -> Int { offset - Self.setupSectsOffset }
        header[at(Self.bootFlagOffset)] = UInt8(Self.bootFlag & 0xFF)
        header[at(Self.bootFlagOffset) + 1] = UInt8(Self.bootFlag >> 8)
        for i in 0..<4 { header[at(Self.headerOffset) + i] = UInt8(truncatingIfNeeded: Self.headerMagic >> (8 * UInt32(i))) }
        header[at(Self.versionOffset)] = UInt8(Self.vmlinuxVersion & 0xFF)
        header[at(Self.versionOffset) + 1] = UInt8(Self.vmlinuxVersion >> 8)
        header[at(Self.xloadflagsOffset)] = UInt8(Self.xlfKernel64)
        let commandLineLimit = 2047
        for i in 0..<4 { header[at(Self.cmdlineSizeOffset) + i] = UInt8(truncatingIfNeeded: commandLineLimit >> (8 * i)) }
        return Kernel(writes: writes, entry: elf.entry, end: elf.extent.high, header: header,
                      initrdLimit: 1 << 32, commandLineLimit: commandLineLimit)
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
    static func store32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) { for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    static func store64(_ b: inout [UInt8], _ o: Int, _ v: UInt64) { for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
}
