/// Where the PC-style protocols (Multiboot, PVH) put what they hand the kernel.
///
/// ```
///  0x0000_0500  GDT of the protected-mode entry (null, code32 = 0x08, data32 = 0x10)
///  0x0001_0000  boot data: info structure, memory map, module list, command lines, …
///  0x0009_FC00  end of conventional memory (the EBDA and the legacy holes follow)
///  0x0010_0000  the kernel (at or above 1 MiB), then the modules, page-aligned
/// ```
/// Everything but the kernel and the modules is small, so it lives in low memory, which the
/// memory map still lists as RAM: a kernel reads its boot data first and may reuse the space after.
public struct PCBootData {
    /// Guest-physical address of the protected-mode entry's GDT: null, code32 (0x08), data32 (0x10).
    public static let gdtAddress: UInt64 = 0x500
    /// Guest-physical address of the first byte of boot data; `reserve` places from here up.
    public static let dataBase: UInt64 = 0x1_0000
    /// The end of conventional memory (639 KiB), as the memory map reports it.
    public static let conventionalEnd: UInt64 = 0x9_FC00
    /// Where the BIOS area starts (reserved in the memory map up to 1 MiB; the ACPI tables of
    /// the pc machine are there).
    public static let biosAreaStart: UInt64 = 0xE_0000
    /// Where memory above the legacy holes starts (1 MiB): RAM in the map, and the lowest
    /// address of modules and of kernels not in low memory.
    public static let highMemoryStart: UInt64 = 0x10_0000
    /// Low memory a kernel may load into (kvm-unit-tests' realmode test loads at 0x8000): after
    /// the IVT, the BIOS data area and the GDT page, below the boot data.
    public static let lowKernelStart: UInt64 = 0x1000

    /// Refuses a kernel range that is not inside [lowKernelStart, dataBase) or at or above 1 MiB:
    /// the rest of low memory holds the boot data, the EBDA and the BIOS area.
    public static func checkKernel(_ ranges: [(start: UInt64, end: UInt64)], protocolName: String, image: String) throws(BootError) {
        for r in ranges {
            let low = r.start >= lowKernelStart && r.end <= dataBase
            guard low || r.start >= highMemoryStart else {
                throw .kernelOverlapsLowMemory(protocolName: protocolName, image: image, address: r.start)
            }
        }
    }

    /// The longest command line a kernel is given, without its NUL.
    public static let maxCommandLine = 4095

    /// One range of the memory map, in E820 terms (1 = RAM, 2 = reserved).
    public struct MemoryRange: Sendable, Equatable {
        /// Guest-physical address of the range's first byte.
        public let base: UInt64
        /// Bytes in the range.
        public let size: UInt64
        /// The E820 type: `ram` or `reserved`.
        public let type: UInt32
        /// The E820 type codes used: `ram` (1) is usable RAM, `reserved` (2) is not to be used.
        public static let ram: UInt32 = 1, reserved: UInt32 = 2
    }

    /// The smallest RAM the PC protocols boot with: the low MiB and 1 MiB above it.
    public static let minimumRAM: UInt64 = 2 << 20

    /// Refuses a RAM size the PC boot data cannot describe.
    public static func checkRAM(_ ramSize: UInt64, protocolName: String) throws(BootError) {
        guard ramSize >= minimumRAM else { throw .ramTooSmall(protocolName: protocolName, ramSize: ramSize, minimum: minimumRAM) }
    }

    /// The memory map as fw_cfg's `etc/e820` file holds it: 20-byte little-endian entries of
    /// base, length and type.
    public static func e820Table(ramSize: UInt64, highRAMSize: UInt64 = 0) -> [UInt8] {
        var table = LittleEndianWriter()
        for range in memoryMap(ramSize: ramSize, highRAMSize: highRAMSize) {
            table.u64(range.base)
            table.u64(range.size)
            table.u32(range.type)
        }
        return table.bytes
    }

    /// The memory map of a PC machine with `ramSize` (at least `minimumRAM`) bytes of RAM at 0:
    /// conventional memory, the EBDA and BIOS area reserved, then RAM from 1 MiB, and
    /// `highRAMSize` bytes at 4 GiB when there are any.
    /// Less RAM than that (only a direct caller can pass it: machines refuse it first) gives
    /// the low ranges and no RAM above 1 MiB, rather than a range whose size wrapped around.
    public static func memoryMap(ramSize: UInt64, highRAMSize: UInt64 = 0) -> [MemoryRange] {
        let high = highRAMSize > 0 ? [MemoryRange(base: MachineLayout.highRAMBase, size: highRAMSize, type: MemoryRange.ram)] : []
        let above1MiB = ramSize > highMemoryStart
            ? [MemoryRange(base: highMemoryStart, size: ramSize - highMemoryStart, type: MemoryRange.ram)] : []
        return [
            MemoryRange(base: 0, size: conventionalEnd, type: MemoryRange.ram),
            MemoryRange(base: conventionalEnd, size: 0xA_0000 - conventionalEnd, type: MemoryRange.reserved),
            MemoryRange(base: biosAreaStart, size: highMemoryStart - biosAreaStart, type: MemoryRange.reserved),
        ] + above1MiB + high
    }

    /// The flat GDT the protected-mode entry's segments come from.
    public static func gdtWrite() -> BootPlan.Write {
        let gdt: [UInt64] = [0, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF]
        var bytes: [UInt8] = []
        for entry in gdt { bytes.append(le: entry, 8) }
        return .bytes(at: gdtAddress, bytes)
    }

    private let protocolName: String
    private var next = PCBootData.dataBase
    /// The bytes placed so far, from `dataBase` on.
    private(set) var bytes: [UInt8] = []

    /// Empty boot data for the protocol `protocolName`, which its errors name.
    public init(protocolName: String) {
        self.protocolName = protocolName
    }

    /// Reserves `count` bytes aligned to `alignment` and returns their guest-physical address.
    public mutating func reserve(_ count: Int, alignment: UInt64 = 8) throws(BootError) -> UInt64 {
        let address = (next + alignment - 1) / alignment * alignment
        guard address + UInt64(count) <= Self.conventionalEnd else {
            throw .bootDataDoesNotFit(protocolName: protocolName, bytes: Int(address - Self.dataBase) + count)
        }
        next = address + UInt64(count)
        bytes += [UInt8](repeating: 0, count: Int(next - Self.dataBase) - bytes.count)
        return address
    }

    /// Places `data` and returns its address.
    public mutating func place(_ data: [UInt8], alignment: UInt64 = 8) throws(BootError) -> UInt64 {
        let address = try reserve(data.count, alignment: alignment)
        store(data, at: address)
        return address
    }

    /// Places `text` with its NUL, refusing one longer than `maxCommandLine`.
    public mutating func placeString(_ text: String) throws(BootError) -> UInt64 {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.maxCommandLine else { throw .commandLineTooLong(length: utf8.count, maximum: Self.maxCommandLine) }
        return try place(utf8 + [0], alignment: 1)
    }

    /// Overwrites bytes already reserved.
    public mutating func store(_ data: [UInt8], at address: UInt64) {
        let offset = Int(address - Self.dataBase)
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
    }

    /// The write that puts the boot data into RAM.
    public var write: BootPlan.Write { .bytes(at: Self.dataBase, bytes) }
}

/// Where the modules go: after the kernel, each page-aligned, all below `ramSize` (which a
/// protocol with 32-bit addresses caps at 4 GiB).
func placeModules(_ modules: [BootModule], after kernelEnd: UInt64, ramSize: UInt64) throws(BootError) -> [(address: UInt64, write: BootPlan.Write)] {
    var next = (kernelEnd + 0xFFF) & ~0xFFF
    var placed: [(UInt64, BootPlan.Write)] = []
    for module in modules {
        let (end, overflow) = next.addingReportingOverflow(UInt64(module.bytes.count))
        guard !overflow, end <= ramSize else {
            throw .moduleDoesNotFit(module: module.name, size: module.bytes.count, address: next, ramSize: ramSize)
        }
        placed.append((next, .bytes(at: next, module.bytes)))
        next = (end + 0xFFF) & ~0xFFF
    }
    return placed
}
