import KVM

/// The 32-bit protected-mode entry state of the Multiboot and PVH protocols.
public enum ProtectedMode {
    /// Selector of the flat 32-bit code segment in the GDT at `PCBootData.gdtAddress`.
    public static let codeSelector: UInt16 = 0x08
    /// Selector of the flat 32-bit data segment in that GDT, loaded into DS, ES, FS, GS and SS.
    public static let dataSelector: UInt16 = 0x10

    /// Puts `vcpu` in 32-bit protected mode without paging at `eip`: flat 32-bit code and data
    /// segments (from the GDT `PCBootData.gdtWrite` places), TR a 32-bit busy TSS at 0 with
    /// limit 0x67, CR0 = PE|ET, CR4 = 0, EFER = 0, EFLAGS = 0x2, EAX and EBX as given, the
    /// other general registers 0; and makes it runnable.
    public static func enter(_ vcpu: KVMVCPU, eip: UInt32, eax: UInt32, ebx: UInt32) throws {
        var sregs = try vcpu.specialRegisters()
        sregs.cs = .flat(selector: codeSelector, type: 0xB, defaultSize32: true, longMode: false)
        let data = SegmentRegister.flat(selector: dataSelector, type: 0x3, defaultSize32: true, longMode: false)
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        var tss = SegmentRegister()
        tss.limit = 0x67
        tss.type = 0xB  // 32-bit TSS, busy
        tss.present = true
        sregs.tr = tss
        sregs.gdt = DescriptorTableRegister(base: PCBootData.gdtAddress, limit: 3 * 8 - 1)
        sregs.idt = DescriptorTableRegister(base: 0, limit: 0)
        sregs.cr0 = 0x11  // PE; ET is fixed to 1
        sregs.cr3 = 0
        sregs.cr4 = 0
        sregs.efer = 0
        try vcpu.setSpecialRegisters(sregs)
        var regs = Registers()
        regs.rip = UInt64(eip)
        regs.rax = UInt64(eax)
        regs.rbx = UInt64(ebx)
        try vcpu.setRegisters(regs)
        try vcpu.makeRunnable()
    }
}

/// Real mode, as firmware leaves a vCPU when it jumps to a real-mode vector (the FACS waking
/// vector on resume from S3).
public enum RealMode {
    /// Puts `vcpu` in real mode at `cs`:`ip`: CS base cs·16, the data segments 0, every limit
    /// 0xFFFF, the IVT at 0, CR0 = ET, CR4 = 0, EFER = 0, EFLAGS = 0x2, the general registers 0;
    /// and makes it runnable.
    public static func enter(_ vcpu: KVMVCPU, cs: UInt16, ip: UInt16) throws {
        var sregs = try vcpu.specialRegisters()
        func segment(_ selector: UInt16, type: UInt8) -> SegmentRegister {
            var s = SegmentRegister()
            s.selector = selector
            s.base = UInt64(selector) << 4
            s.limit = 0xFFFF
            s.type = type
            s.present = true
            s.codeOrData = true
            return s
        }
        sregs.cs = segment(cs, type: 0xB)
        let data = segment(0, type: 0x3)
        sregs.ds = data; sregs.es = data; sregs.fs = data; sregs.gs = data; sregs.ss = data
        var tss = SegmentRegister()
        tss.limit = 0xFFFF
        tss.type = 0xB
        tss.present = true
        sregs.tr = tss
        var ldt = SegmentRegister()
        ldt.limit = 0xFFFF
        ldt.type = 0x2
        ldt.present = true
        sregs.ldt = ldt
        sregs.gdt = DescriptorTableRegister(base: 0, limit: 0xFFFF)
        sregs.idt = DescriptorTableRegister(base: 0, limit: 0x3FF)
        sregs.cr0 = 0x10
        sregs.cr3 = 0
        sregs.cr4 = 0
        sregs.efer = 0
        try vcpu.setSpecialRegisters(sregs)
        var regs = Registers()
        regs.rip = UInt64(ip)
        try vcpu.setRegisters(regs)
        try vcpu.makeRunnable()
    }
}
