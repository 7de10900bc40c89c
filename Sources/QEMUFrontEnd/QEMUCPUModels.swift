import KVM

/// QEMU's named x86 CPU models that kvm-unit-tests asks for, as CPUID: the identity (family,
/// model, stepping, levels, brand string) and, per feature register, the bits the model has.
/// Under KVM a model's features are those bits that KVM also supports; everything else is
/// KVM's. Values are QEMU's model definitions (version 1) with what QEMU adds under KVM: the
/// hypervisor bit, x2APIC, and the KVM paravirtual features of leaf 0x4000_0001.
public struct NamedCPUModel: Sendable, Equatable {
    /// The name `-cpu` takes (`Opteron_G1`, `Skylake-Server`), and the model's key in `all`.
    public let name: String
    /// Leaf 1 EAX: stepping, model, family (with their extended fields).
    public let signature: UInt32
    /// The highest basic leaf (leaf 0 EAX); basic leaves above it read zero.
    public let level: UInt32
    /// The highest extended leaf (leaf 0x8000_0000 EAX); extended leaves above it read zero.
    public let extendedLevel: UInt32
    /// Leaves 0x8000_0002…4.
    public let brand: String
    /// The bits the model has, per (leaf, subleaf, register); a register not listed keeps KVM's value.
    public let features: [Register: UInt32]

    /// One CPUID output register, the key of `features`: a leaf, a subleaf and which of EAX,
    /// EBX, ECX, EDX.
    public struct Register: Sendable, Hashable {
        /// The CPUID leaf (the EAX input), e.g. 1 or 0x8000_0001.
        public let leaf: UInt32
        /// The subleaf (the ECX input); 0 for a leaf without subleaves.
        public let subleaf: UInt32
        /// "a", "b", "c" or "d".
        public let name: Character
        /// Register `name` ("a", "b", "c" or "d") of leaf `leaf`, subleaf `subleaf`.
        public init(_ leaf: UInt32, _ subleaf: UInt32, _ name: Character) {
            self.leaf = leaf
            self.subleaf = subleaf
            self.name = name
        }
    }

    /// What QEMU sets in leaf 1 ECX of every model (the hypervisor bit) and, with the in-kernel
    /// irqchip, x2APIC.
    static let hypervisor: UInt32 = 1 << 31, x2apic: UInt32 = 1 << 21
    /// Leaf 1 EDX HT: QEMU sets it for more than one thread per package; KVM's value is kept.
    static let hyperThreading: UInt32 = 1 << 28
    /// Leaf 0x4000_0001 EAX under KVM: kvmclock (bits 0 and 3), no PIO delay, async PF, steal
    /// time, PV EOI, and the stable-clock bit.
    static let kvmFeatures: UInt32 = 0x0100_007B

    static let baseEDX: UInt32 = 0x078B_FBFF  // FPU … SSE2, the set both models share

    /// QEMU's `Opteron_G1`: AMD family 15, model 6, stepping 1, levels 5 and 0x8000_0008.
    public static let opteronG1 = NamedCPUModel(
        name: "Opteron_G1", signature: 0x0000_0F61, level: 5, extendedLevel: 0x8000_0008,
        brand: "AMD Opteron 240 (Gen 1 Class Opteron)",
        features: [
            Register(1, 0, "d"): baseEDX, Register(1, 0, "c"): 0x0000_0001 | hypervisor | x2apic,
            Register(0x8000_0001, 0, "d"): 0x2010_0800, Register(0x8000_0001, 0, "c"): 0,
        ])

    /// QEMU's `Skylake-Server`: Intel family 6, model 85, stepping 4, levels 0xD and 0x8000_0008.
    public static let skylakeServer = NamedCPUModel(
        name: "Skylake-Server", signature: 0x0005_0654, level: 0xD, extendedLevel: 0x8000_0008,
        brand: "Intel Xeon Processor (Skylake)",
        features: [
            Register(1, 0, "d"): baseEDX, Register(1, 0, "c"): 0x77FA_3203 | hypervisor | x2apic,
            Register(6, 0, "a"): 0x0000_0004,
            Register(7, 0, "b"): 0xD19F_0FB9, Register(7, 0, "c"): 0x0000_0008, Register(7, 0, "d"): 0,
            Register(0xD, 1, "a"): 0x0000_0007,
            Register(0x8000_0001, 0, "d"): 0x2C10_0800, Register(0x8000_0001, 0, "c"): 0x0000_0121,
        ])

    /// The models `-cpu` takes by name.
    public static let all: [String: NamedCPUModel] = [opteronG1.name: opteronG1, skylakeServer.name: skylakeServer]

    /// Changes KVM's `entry` into the model's: identity set, features masked, leaves above the
    /// model's levels emptied.
    func apply(to entry: inout CPUIDEntry) {
        let leaf = entry.function
        if leaf > level && leaf < 0x4000_0000 || leaf > extendedLevel && leaf >= 0x8000_0000 {
            entry.eax = 0; entry.ebx = 0; entry.ecx = 0; entry.edx = 0
            return
        }
        switch leaf {
        case 0: entry.eax = level
        case 1: entry.eax = signature
        case 0x4000_0001: entry.eax &= Self.kvmFeatures
        case 0x8000_0000: entry.eax = extendedLevel
        case 0x8000_0002...0x8000_0004: setBrand(&entry)
        default: break
        }
        for name: Character in ["a", "b", "c", "d"] {
            guard var mask = features[Register(leaf, entry.index, name)] else { continue }
            if leaf == 1 && name == "d" { mask |= Self.hyperThreading }
            entry[name] &= mask
        }
    }

    private func setBrand(_ entry: inout CPUIDEntry) {
        var bytes = Array(brand.utf8.prefix(47))
        bytes += [UInt8](repeating: 0, count: 48 - bytes.count)
        let base = Int(entry.function - 0x8000_0002) * 16
        entry.eax = cpuidWord(bytes, at: base)
        entry.ebx = cpuidWord(bytes, at: base + 4)
        entry.ecx = cpuidWord(bytes, at: base + 8)
        entry.edx = cpuidWord(bytes, at: base + 12)
    }
}

/// Four bytes of a CPUID string (vendor, brand) as the register holding them: the first byte lowest.
func cpuidWord(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

extension CPUIDEntry {
    /// The register `name` ("a", "b", "c" or "d").
    subscript(name: Character) -> UInt32 {
        get {
            switch name {
            case "a": eax
            case "b": ebx
            case "c": ecx
            default: edx
            }
        }
        set {
            switch name {
            case "a": eax = newValue
            case "b": ebx = newValue
            case "c": ecx = newValue
            default: edx = newValue
            }
        }
    }
}
