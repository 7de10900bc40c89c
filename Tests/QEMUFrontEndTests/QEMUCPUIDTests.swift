import KVM
import QEMUFrontEnd
import Testing

/// `-cpu`'s CPUID: a named model is KVM's table cut down to the model's identity and features.
@Suite struct QEMUCPUIDTests {
    /// KVM's entry with every bit set, adjusted by `model` for vCPU 1.
    func entry(_ leaf: UInt32, _ model: QEMUCommandLine.CPUModel, subleaf: UInt32 = 0) -> CPUIDEntry {
        var e = CPUIDEntry(function: leaf, index: subleaf, eax: ~0, ebx: ~0, ecx: ~0, edx: ~0)
        QEMUCPUID(model: model).adjust(&e, vcpu: 1, apicID: 1)
        return e
    }

    @Test func opteronG1HasItsIdentityAndOnlyItsFeatures() {
        let m = QEMUCommandLine.CPUModel(model: "Opteron_G1", vendor: "AuthenticAMD")
        let leaf0 = entry(0, m)
        #expect(leaf0.eax == 5)
        #expect([leaf0.ebx, leaf0.edx, leaf0.ecx] == [0x6874_7541, 0x6974_6E65, 0x444D_4163], "AuthenticAMD")
        let leaf1 = entry(1, m)
        #expect(leaf1.eax == 0xF61 && leaf1.ebx >> 24 == 1, "family 15 model 6 stepping 1, APIC ID 1")
        #expect(leaf1.edx == 0x078B_FBFF | 1 << 28 && leaf1.ecx == 0x8020_0001, "SSE3, x2APIC and the hypervisor bit")
        #expect(entry(7, m) == CPUIDEntry(function: 7), "leaf 7 is above the model's level 5")
        let ext = entry(0x8000_0001, m)
        #expect(ext.edx == 0x2010_0800 && ext.ecx == 0, "SYSCALL, NX, LM")
        #expect(entry(0x8000_0000, m).eax == 0x8000_0008)
        #expect(entry(0x8000_0009, m) == CPUIDEntry(function: 0x8000_0009))
        #expect(entry(0x4000_0001, m).eax == 0x0100_007B, "kvmclock and the PV features QEMU gives a named model")
        let brand = (0x8000_0002...0x8000_0004 as ClosedRange<UInt32>).flatMap { leaf -> [UInt8] in
            let e = entry(leaf, m)
            return [e.eax, e.ebx, e.ecx, e.edx].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        }
        #expect(String(decoding: brand.prefix { $0 != 0 }, as: UTF8.self) == "AMD Opteron 240 (Gen 1 Class Opteron)")
    }

    @Test func skylakeServerKeepsWhatKVMHasOfItsFeatures() {
        let m = QEMUCommandLine.CPUModel(model: "Skylake-Server")
        #expect(entry(1, m).eax == 0x5_0654 && entry(1, m).ecx == 0xF7FA_3203)
        #expect(entry(7, m).ebx == 0xD19F_0FB9 && entry(7, m).ecx == 0x8 && entry(7, m).edx == 0)
        #expect(entry(0xD, m, subleaf: 1).eax == 0x7 && entry(0xD, m).eax == ~0, "only subleaf 1 of leaf 0xD is masked")
        #expect(entry(0, m).ebx == ~0, "without vendor= the vendor is KVM's (the host's), as QEMU has it under KVM")
        // A feature KVM lacks stays off: leaf 7 EBX bit 5 (AVX2) cleared in KVM's value.
        var e = CPUIDEntry(function: 7, ebx: ~0 & ~(1 << 5))
        QEMUCPUID(model: m).adjust(&e, vcpu: 0, apicID: 0)
        #expect(e.ebx == 0xD19F_0FB9 & ~(1 << 5))
    }

    /// "+feature" puts back a bit the model lacks if KVM has it; "-feature" takes it away.
    @Test func featuresOnAndOffApplyAfterTheModel() {
        let m = QEMUCommandLine.CPUModel(model: "Opteron_G1", enabled: ["rdtscp"], disabled: ["x2apic"])
        #expect(entry(0x8000_0001, m).edx == 0x2010_0800 | 1 << 27)
        #expect(entry(1, m).ecx == 0x8000_0001)
        var lacking = CPUIDEntry(function: 0x8000_0001, edx: ~0 & ~(1 << 27))
        QEMUCPUID(model: m).adjust(&lacking, vcpu: 0, apicID: 0)
        #expect(lacking.edx == 0x2010_0800, "+rdtscp cannot add what KVM does not have")
    }

    @Test func theBaseModelsAreKVMsTable() {
        #expect(entry(7, .init(model: "qemu64")).ebx == ~0)
        #expect(entry(1, .init(model: "max", disabled: ["x2apic"])).ecx == UInt32.max & ~(UInt32(1) << 21))
    }
}
