import CKVM

/// The general-purpose registers, RIP and RFLAGS of a vCPU (KVM_GET_REGS / KVM_SET_REGS), as
/// Swift values: no type of the C shim appears in the KVM module's public API.
public struct Registers: Sendable, Equatable {
    /// RAX, RBX, RCX and RDX, the 64-bit accumulator, base, count and data registers.
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    /// RSI, RDI, RSP and RBP: source and destination index, stack pointer, frame pointer.
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    /// R8 to R11, general-purpose registers of 64-bit mode.
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    /// R12 to R15, general-purpose registers of 64-bit mode.
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    /// The instruction pointer: the offset in CS of the next instruction to run.
    public var rip: UInt64 = 0
    /// Bit 1 is reserved and always set.
    public var rflags: UInt64 = 0x2

    /// Every register zero except RFLAGS, which holds its reserved bit (0x2).
    public init() {}

    init(_ r: kvm_regs) {
        rax = r.rax; rbx = r.rbx; rcx = r.rcx; rdx = r.rdx; rsi = r.rsi; rdi = r.rdi; rsp = r.rsp; rbp = r.rbp
        r8 = r.r8; r9 = r.r9; r10 = r.r10; r11 = r.r11; r12 = r.r12; r13 = r.r13; r14 = r.r14; r15 = r.r15
        rip = r.rip; rflags = r.rflags
    }

    var kvm: kvm_regs {
        kvm_regs(rax: rax, rbx: rbx, rcx: rcx, rdx: rdx, rsi: rsi, rdi: rdi, rsp: rsp, rbp: rbp,
                 r8: r8, r9: r9, r10: r10, r11: r11, r12: r12, r13: r13, r14: r14, r15: r15, rip: rip, rflags: rflags)
    }
}

/// A segment register with its hidden descriptor part, as KVM holds it.
public struct SegmentRegister: Sendable, Equatable {
    /// The segment's base linear address (ignored for CS, DS, ES and SS in 64-bit mode).
    public var base: UInt64 = 0
    /// The segment's limit in bytes as KVM holds it, already scaled by the granularity: the offset
    /// of its last byte (0xFFFF_FFFF for a flat 4 GiB segment).
    public var limit: UInt32 = 0
    /// The visible selector: descriptor index << 3, table indicator (bit 2) and RPL (bits 1:0).
    public var selector: UInt16 = 0
    /// The descriptor's type field (for code/data: 0xB = execute/read accessed, 0x3 = read/write accessed).
    public var type: UInt8 = 0
    /// P: the segment is present in memory.
    public var present = false
    /// The descriptor privilege level, 0 (most privileged) to 3.
    public var dpl: UInt8 = 0
    /// D/B: 32-bit default operand size (code) or stack (data).
    public var defaultSize32 = false
    /// S: a code or data segment (not a system one such as a TSS).
    public var codeOrData = false
    /// L: 64-bit code.
    public var longMode = false
    /// G: the limit counts 4 KiB pages.
    public var granularity4K = false
    /// AVL: the descriptor bit left for system software; the CPU ignores it.
    public var available = false
    /// The segment register holds no usable segment (for example a null selector was loaded), as
    /// VMX's "unusable" access-rights bit says.
    public var unusable = false

    /// A null segment: every field zero or false (not present).
    public init() {}

    /// A flat (base 0, 4 GiB limit), present, DPL 0 code or data segment.
    public static func flat(selector: UInt16, type: UInt8, defaultSize32: Bool, longMode: Bool) -> SegmentRegister {
        var s = SegmentRegister()
        s.limit = 0xFFFF_FFFF
        s.selector = selector
        s.type = type
        s.present = true
        s.defaultSize32 = defaultSize32
        s.codeOrData = true
        s.longMode = longMode
        s.granularity4K = true
        return s
    }

    init(_ s: kvm_segment) {
        base = s.base; limit = s.limit; selector = s.selector; type = s.type; present = s.present != 0; dpl = s.dpl
        defaultSize32 = s.db != 0; codeOrData = s.s != 0; longMode = s.l != 0; granularity4K = s.g != 0
        available = s.avl != 0; unusable = s.unusable != 0
    }

    var kvm: kvm_segment {
        var s = kvm_segment()
        s.base = base; s.limit = limit; s.selector = selector; s.type = type; s.present = present ? 1 : 0; s.dpl = dpl
        s.db = defaultSize32 ? 1 : 0; s.s = codeOrData ? 1 : 0; s.l = longMode ? 1 : 0; s.g = granularity4K ? 1 : 0
        s.avl = available ? 1 : 0; s.unusable = unusable ? 1 : 0
        return s
    }
}

/// The base and limit of the GDT or IDT.
public struct DescriptorTableRegister: Sendable, Equatable {
    /// The table's linear address.
    public var base: UInt64
    /// The table's size in bytes minus one (8 · entries − 1 for a GDT of 8-byte descriptors).
    public var limit: UInt16
    /// Makes a register value for the table at `base` whose last byte is at `base + limit`.
    public init(base: UInt64 = 0, limit: UInt16 = 0) {
        self.base = base
        self.limit = limit
    }
}

/// Segment, descriptor-table and control registers of a vCPU (KVM_GET_SREGS / KVM_SET_SREGS).
/// The pending-interrupt bitmap KVM keeps beside them is not part of this value: setting these
/// registers leaves it as it is.
public struct SpecialRegisters: Sendable, Equatable {
    /// The code segment and the DS and ES data segments.
    public var cs = SegmentRegister(), ds = SegmentRegister(), es = SegmentRegister()
    /// The FS and GS data segments (in 64-bit mode their bases still apply, for per-thread or
    /// per-CPU data) and the stack segment.
    public var fs = SegmentRegister(), gs = SegmentRegister(), ss = SegmentRegister()
    /// The task register (the TSS's segment) and the local descriptor table's segment.
    public var tr = SegmentRegister(), ldt = SegmentRegister()
    /// The global and interrupt descriptor tables (GDTR, IDTR).
    public var gdt = DescriptorTableRegister(), idt = DescriptorTableRegister()
    /// The control registers: CR0 (PE bit 0, PG bit 31), CR2 (the last page-fault address), CR3
    /// (the guest-physical address of the top page table), CR4 (PAE bit 5) and CR8 (the task priority).
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    /// The IA32_EFER MSR: SCE bit 0, LME bit 8 (enable long mode), LMA bit 10 (long mode active),
    /// NXE bit 11.
    public var efer: UInt64 = 0
    /// The IA32_APIC_BASE MSR: the LAPIC's guest-physical base (0xFEE0_0000 by default), BSP bit 8,
    /// x2APIC enable bit 10 and global enable bit 11.
    public var apicBase: UInt64 = 0

    /// All zero: null segments, empty descriptor tables, control registers and MSRs 0. Read a vCPU's
    /// with `KVMVCPU.specialRegisters()` and change what you need rather than start from this.
    public init() {}

    init(_ s: kvm_sregs) {
        cs = .init(s.cs); ds = .init(s.ds); es = .init(s.es); fs = .init(s.fs); gs = .init(s.gs); ss = .init(s.ss)
        tr = .init(s.tr); ldt = .init(s.ldt)
        gdt = .init(base: s.gdt.base, limit: s.gdt.limit); idt = .init(base: s.idt.base, limit: s.idt.limit)
        cr0 = s.cr0; cr2 = s.cr2; cr3 = s.cr3; cr4 = s.cr4; cr8 = s.cr8; efer = s.efer; apicBase = s.apic_base
    }

    /// These values over `base` (which supplies the interrupt bitmap).
    func kvm(over base: kvm_sregs) -> kvm_sregs {
        var s = base
        s.cs = cs.kvm; s.ds = ds.kvm; s.es = es.kvm; s.fs = fs.kvm; s.gs = gs.kvm; s.ss = ss.kvm; s.tr = tr.kvm; s.ldt = ldt.kvm
        s.gdt.base = gdt.base; s.gdt.limit = gdt.limit; s.idt.base = idt.base; s.idt.limit = idt.limit
        s.cr0 = cr0; s.cr2 = cr2; s.cr3 = cr3; s.cr4 = cr4; s.cr8 = cr8; s.efer = efer; s.apic_base = apicBase
        return s
    }
}
