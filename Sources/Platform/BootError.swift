import TextFormat

/// Why an image cannot be booted by the protocol chosen; each message names the image and the
/// offending value. The CLI prints it on one line and exits with status 2.
public enum BootError: Error, Equatable, CustomStringConvertible {
    case unknownProtocol(String)
    /// `--boot-protocol` named a protocol whose marks the image lacks.
    case protocolNotInImage(protocolName: String, image: String, lacks: String)
    case noProtocol(image: String)
    case modulesUnsupported(protocolName: String, module: String)
    case multibootBadChecksum(image: String, offset: Int, sum: UInt32)
    case multibootUnsupportedFlags(image: String, flags: UInt32)
    case multibootBadAddresses(image: String, detail: String)
    case entryOutsideRAM(protocolName: String, image: String, entry: UInt64, ramSize: UInt64)
    case entryAbove4GiB(protocolName: String, image: String, entry: UInt64)
    case kernelOverlapsLowMemory(protocolName: String, image: String, address: UInt64)
    case moduleDoesNotFit(module: String, size: Int, address: UInt64, ramSize: UInt64)
    case commandLineTooLong(length: Int, maximum: Int)
    case bootDataDoesNotFit(protocolName: String, bytes: Int)
    case ramTooSmall(protocolName: String, ramSize: UInt64, minimum: UInt64)

    public var description: String {
        switch self {
        case let .unknownProtocol(name):
            "unknown boot protocol '\(name)' (expected auto, multiboot, pvh or elf64)"
        case let .protocolNotInImage(p, image, lacks):
            "\(image): the image does not carry the \(p) boot protocol (\(lacks))"
        case let .noProtocol(image):
            "\(image): no boot protocol found (no Multiboot header, no PVH note, not an ELF64 x86-64 executable)"
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
        case let .ramTooSmall(p, ram, minimum):
            "the \(p) boot protocol needs at least \(byteCount(minimum)) of RAM, not \(byteCount(ram))"
        }
    }
}
