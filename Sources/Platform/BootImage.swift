/// A boot plan as a file, for a VMM of another kind to boot exactly what ours would
/// (`vmm run IMAGE --dump-boot FILE`; `Scripts/bench/linux-loop.c` reads it):
///
/// ```
///  "VMMBOOT1"                    8 bytes
///  RAM size                      u64
///  start kind                    u32: 0 waits for SIPI, 1 long mode, 2 protected mode,
///                                     3 Linux 64-bit entry
///  vCPU count                    u32: the vCPUs the plan starts (the tables describe them all)
///  rip, rsp, rdi, rsi            4 × u64 (protected mode: eip, 0, eax, ebx; Linux: rip, stack, 0, zero page)
///  records, to the end:          address u64, count u64 (bit 63 set: zero `count` bytes), bytes
/// ```
/// Little-endian throughout; the records end exactly at the file's end. Only the bootstrap
/// vCPU's start is written: the others wait for INIT/SIPI (or, for our own protocol, start like
/// it). The long-mode starts use the GDT at `BootLayout.gdtAddress` (selectors 0x08/0x10 for
/// ours, 0x10/0x18 for Linux) and the page tables at `BootLayout.pml4Address`, both among the
/// records.
extension BootPlan {
    /// The file's first 8 bytes.
    public static let imageMagic = Array("VMMBOOT1".utf8)

    /// The plan for a machine with `ramSize` bytes of RAM, as the file above.
    public func image(ramSize: UInt64) -> [UInt8] {
        var out = LittleEndianWriter()
        let (kind, registers): (UInt32, [UInt64]) = switch vcpus.first ?? .waitForSIPI {
        case let .longMode(rip, rsp, rdi, rsi): (1, [rip, rsp, rdi, rsi])
        case let .protectedMode(eip, eax, ebx): (2, [UInt64(eip), 0, UInt64(eax), UInt64(ebx)])
        case let .linux64(rip, bootParams): (3, [rip, LinuxBootProtocol.stackTop, 0, bootParams])
        case .waitForSIPI: (0, [0, 0, 0, 0])
        }
        out.u64(ramSize)
        out.u32(kind)
        out.u32(UInt32(vcpus.count))
        for value in registers { out.u64(value) }
        var bytes = Self.imageMagic + out.bytes
        for write in writes {
            var record = LittleEndianWriter()
            record.u64(write.address)
            switch write {
            case let .bytes(_, data):
                record.u64(UInt64(data.count))
                bytes += record.bytes + data
            case let .zero(_, count):
                record.u64(count | 1 << 63)
                bytes += record.bytes
            }
        }
        return bytes
    }
}
