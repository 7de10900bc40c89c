import TextFormat

/// Why an image cannot be booted by the protocol chosen; each message names the image and the
/// offending value. The CLI prints it on one line and exits with status 2.
public enum BootError: Error, Equatable, CustomStringConvertible {
    /// The protocol name asked for (`--boot-protocol`) is none of `BootProtocols.names`.
    case unknownProtocol(String)
    /// `--boot-protocol` named a protocol whose marks the image lacks.
    case protocolNotInImage(protocolName: String, image: String, lacks: String)
    /// With `auto`, no protocol recognises `image` (the image's name).
    case noProtocol(image: String)
    /// The protocol cannot pass modules (ELF64) and was given some; `module` is the first one's name.
    case modulesUnsupported(protocolName: String, module: String)
    /// The Multiboot header at byte `offset` of the image has a bad checksum: `sum` (magic +
    /// flags + checksum, modulo 2^32) is not 0.
    case multibootBadChecksum(image: String, offset: Int, sum: UInt32)
    /// The Multiboot header's `flags` (the whole word) set a requirement bit (3–15) this loader
    /// cannot honour.
    case multibootUnsupportedFlags(image: String, flags: UInt32)
    /// Flag bit 16 is set but the header's address fields are cut off or inconsistent with each
    /// other or with the file; `detail` says which field and why.
    case multibootBadAddresses(image: String, detail: String)
    /// The `entry` point is not below `ramSize`, the size of the RAM at guest-physical 0.
    case entryOutsideRAM(protocolName: String, image: String, entry: UInt64, ramSize: UInt64)
    /// The `entry` point is at or above 4 GiB, out of reach of a 32-bit entry.
    case entryAbove4GiB(protocolName: String, image: String, entry: UInt64)
    /// A kernel range starting at guest-physical `address` lies neither inside 0x1000…0x10000
    /// nor at or above 1 MiB, so it would cover the boot data, the EBDA or the BIOS area.
    case kernelOverlapsLowMemory(protocolName: String, image: String, address: UInt64)
    /// Module `module` of `size` bytes, placed at guest-physical `address` (page-aligned after
    /// the kernel and earlier modules), would end past `ramSize` (capped at 4 GiB for Multiboot).
    case moduleDoesNotFit(module: String, size: Int, address: UInt64, ramSize: UInt64)
    /// A string for the boot data (the command line, or a module's name) is `length` bytes
    /// long, more than `maximum` (`PCBootData.maxCommandLine`, the NUL not counted).
    case commandLineTooLong(length: Int, maximum: Int)
    /// The boot data would take `bytes` bytes from `PCBootData.dataBase`, past the end of
    /// conventional memory (0x9FC00).
    case bootDataDoesNotFit(protocolName: String, bytes: Int)
    /// `ramSize` bytes of RAM are fewer than the `minimum` the protocol's boot data needs
    /// (`PCBootData.minimumRAM`).
    case ramTooSmall(protocolName: String, ramSize: UInt64, minimum: UInt64)

    /// The Linux boot protocol takes one initrd; `count` were given.
    case tooManyInitrds(protocolName: String, count: Int)
    /// The bzImage's setup header gives boot protocol `version`, older than `minimum` (2.12,
    /// the first with a 64-bit entry).
    case linuxProtocolTooOld(image: String, version: UInt16, minimum: UInt16)
    /// The bzImage's xloadflags lack XLF_KERNEL_64: it has no 64-bit entry.
    case linuxNo64BitEntry(image: String)
    /// The bzImage ends before its kernel: the boot sector and setup code need `need` bytes.
    case linuxTruncated(image: String, need: Int, have: Int)
    /// The kernel, loaded at `address`, would need RAM up to `end`, past `ramSize`.
    case kernelDoesNotFit(protocolName: String, image: String, address: UInt64, end: UInt64, ramSize: UInt64)
    /// The initrd of `size` bytes does not fit between the kernel's end (`from`) and `below`
    /// (the end of RAM or the kernel's initrd_addr_max).
    case initrdDoesNotFit(initrd: String, size: Int, from: UInt64, below: UInt64)

    public var description: String {
        switch self {
        case let .unknownProtocol(name):
            "unknown boot protocol '\(name)' (expected auto, multiboot, pvh, linux or elf64)"
        case let .protocolNotInImage(p, image, lacks):
            "\(image): the image does not carry the \(p) boot protocol (\(lacks))"
        case let .noProtocol(image):
            "\(image): no boot protocol found (no Multiboot header, no PVH note, no Linux setup header, not an ELF64 x86-64 executable)"
        case let .modulesUnsupported(p, module):
            "the \(p) boot protocol cannot pass modules (initrd \(module))"
        case let .multibootBadChecksum(image, offset, sum):
            "\(image): Multiboot header at offset \(offset) has a bad checksum (magic + flags + checksum = \(hex(sum)), must be 0)"
        case let .multibootUnsupportedFlags(image, flags):
            "\(image): Multiboot header asks for features this loader lacks (flags \(hex(flags)); supported: page-aligned modules, memory information, video mode ignored, address fields)"
        case let .multibootBadAddresses(image, detail):
            "\(image): Multiboot address fields are inconsistent: \(detail)"
        case let .entryOutsideRAM(p, image, entry, ram):
            "\(image): \(p) entry point \(hex(entry)) is outside \(byteCount(ram)) of RAM"
        case let .entryAbove4GiB(p, image, entry):
            "\(image): \(p) entry point \(hex(entry)) is above 4 GiB (the entry is 32-bit)"
        case let .kernelOverlapsLowMemory(p, image, address):
            "\(image): \(p) kernel loads at \(hex(address)), over the boot data, EBDA or BIOS area (low kernels must lie in 0x1000…0x10000)"
        case let .moduleDoesNotFit(module, size, address, ram):
            "module \(module) (\(byteCount(UInt64(size)))) does not fit in RAM: it would end at \(hex(address &+ UInt64(size))), RAM is \(byteCount(ram))"
        case let .commandLineTooLong(length, maximum):
            "command line of \(length) bytes is too long (at most \(maximum))"
        case let .bootDataDoesNotFit(p, bytes):
            "\(p) boot data of \(bytes) bytes does not fit below 640 KiB"
        case let .tooManyInitrds(p, count):
            "the \(p) boot protocol takes one initrd, not \(count)"
        case let .linuxProtocolTooOld(image, version, minimum):
            "\(image): Linux boot protocol \(linuxVersion(version)) is too old (at least \(linuxVersion(minimum)), for the 64-bit entry)"
        case let .linuxNo64BitEntry(image):
            "\(image): the bzImage has no 64-bit entry (XLF_KERNEL_64 is clear in xloadflags)"
        case let .linuxTruncated(image, need, have):
            "\(image): truncated Linux image: its setup code needs \(need) bytes, the file has \(have)"
        case let .kernelDoesNotFit(p, image, address, end, ram):
            "\(image): the \(p) kernel at \(hex(address)) needs RAM up to \(hex(end)), RAM is \(byteCount(ram))"
        case let .initrdDoesNotFit(initrd, size, from, below):
            "initrd \(initrd) (\(byteCount(UInt64(size)))) does not fit between the kernel's end \(hex(from)) and \(hex(below))"
        case let .ramTooSmall(p, ram, minimum):
            "the \(p) boot protocol needs at least \(byteCount(minimum)) of RAM, not \(byteCount(ram))"
        }
    }
}

/// A Linux boot protocol version as its documentation writes it: 0x020C is "2.12", 0x0206 "2.06".
func linuxVersion(_ version: UInt16) -> String {
    let minor = version & 0xFF
    return "\(version >> 8).\(minor < 10 ? "0" : "")\(minor)"
}
