/// What a PC BIOS leaves in memory that kernels written for PCs may rely on, without a BIOS to
/// run: the real-mode interrupt vector table and its handlers, and the BIOS data area's memory
/// size. (The 8259s and the PIT are set up by the machine, as a BIOS leaves them.)
///
/// ```
///  0x00000  IVT: vectors 0x08–0x0F → the master's handler, 0x70–0x77 → the slave's, others → IRET
///  0x00413  BDA: KiB of conventional memory (639);  0x0040E: the EBDA's segment (0x9FC0)
///  0xF0000  handlers (F000:0000 IRET; F000:0010 EOI to the master, IRET; F000:0020 EOI to both, IRET)
/// ```
public enum PCFirmware {
    /// The real-mode segment every IVT entry points into (F000:offset).
    public static let handlerSegment: UInt16 = 0xF000
    /// Guest-physical address of the handlers, `handlerSegment` × 16.
    public static let handlersAddress: UInt64 = 0xF_0000
    /// The master 8259's vector base the machine programs, as SeaBIOS does (IRQs 0–7).
    public static let masterVectorBase: UInt8 = 0x08
    /// The slave 8259's vector base the machine programs, as SeaBIOS does (IRQs 8–15).
    public static let slaveVectorBase: UInt8 = 0x70

    static let iret: [UInt8] = [0xCF]
    /// push ax; mov al, 0x20; out 0x20, al; pop ax; iret
    static let masterHandler: [UInt8] = [0x50, 0xB0, 0x20, 0xE6, 0x20, 0x58, 0xCF]
    /// push ax; mov al, 0x20; out 0xA0, al; out 0x20, al; pop ax; iret
    static let slaveHandler: [UInt8] = [0x50, 0xB0, 0x20, 0xE6, 0xA0, 0xE6, 0x20, 0x58, 0xCF]

    /// The writes of a boot plan that put the IVT, the BDA fields and the handlers in RAM.
    public static func writes() -> [BootPlan.Write] {
        var ivt: [UInt8] = []
        for vector in 0..<256 {
            let offset: UInt16
            switch vector {
            case Int(masterVectorBase)..<Int(masterVectorBase) + 8: offset = 0x10
            case Int(slaveVectorBase)..<Int(slaveVectorBase) + 8: offset = 0x20
            default: offset = 0x00
            }
            ivt += [UInt8(offset & 0xFF), UInt8(offset >> 8), UInt8(handlerSegment & 0xFF), UInt8(handlerSegment >> 8)]
        }
        var handlers = [UInt8](repeating: 0xCF, count: 0x30)
        handlers.replaceSubrange(0..<1, with: iret)
        handlers.replaceSubrange(0x10..<(0x10 + masterHandler.count), with: masterHandler)
        handlers.replaceSubrange(0x20..<(0x20 + slaveHandler.count), with: slaveHandler)
        let conventionalKiB = UInt16(PCBootData.conventionalEnd / 1024)
        let ebdaSegment = UInt16(PCBootData.conventionalEnd >> 4)
        return [
            .bytes(at: 0, ivt),
            .bytes(at: 0x40E, [UInt8(ebdaSegment & 0xFF), UInt8(ebdaSegment >> 8)]),
            .bytes(at: 0x413, [UInt8(conventionalKiB & 0xFF), UInt8(conventionalKiB >> 8)]),
            .bytes(at: handlersAddress, handlers),
        ]
    }
}
