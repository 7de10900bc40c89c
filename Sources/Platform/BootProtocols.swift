/// Choosing the boot protocol of an image: as QEMU does, a Multiboot header first, then a PVH
/// note, then Linux's own (a bzImage's setup header, or a vmlinux's Linux note), then this
/// project's ELF64 protocol. A protocol asked for by name must be in the image.
public enum BootProtocols {
    /// Every protocol, in the order `auto` tries them.
    public static let all: [any BootProtocol] = [MultibootBootProtocol(), PVHBootProtocol(), LinuxBootProtocol(), ELF64BootProtocol()]
    /// The names `--boot-protocol` accepts.
    public static let names = ["auto"] + all.map(\.name)

    /// The protocol for `image`: the one named by `requested` ("auto" or nil: the first that
    /// recognises the image). Throws `BootError` for an unknown name, a protocol the image does
    /// not carry, or an image no protocol recognises.
    public static func choose(for image: [UInt8], name: String, requested: String? = nil) throws(BootError) -> any BootProtocol {
        switch requested {
        case nil, "auto":
            guard let found = all.first(where: { $0.recognizes(image) }) else { throw .noProtocol(image: name) }
            return found
        case let wanted?:
            guard let chosen = all.first(where: { $0.name == wanted }) else { throw .unknownProtocol(wanted) }
            guard chosen.recognizes(image) else {
                throw .protocolNotInImage(protocolName: wanted, image: name, lacks: lacks(wanted))
            }
            return chosen
        }
    }

    static func lacks(_ name: String) -> String {
        switch name {
        case "multiboot": "no Multiboot header in the first 8 KiB"
        case "pvh": "no ELF XEN_ELFNOTE_PHYS32_ENTRY note"
        case "linux": "no bzImage setup header (boot flag 0xAA55 and \"HdrS\" at 0x202) and no ELF note of a vmlinux"
        default: "not an ELF64 x86-64 executable"
        }
    }
}
