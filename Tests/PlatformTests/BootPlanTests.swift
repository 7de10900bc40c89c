import Memory
import Platform
import Testing

/// The ELF64 boot protocol as a pure loader: bytes in, a plan out, no KVM.
@Suite struct BootPlanTests {
    func layout(vcpus: Int = 2, ram: UInt64 = 64 << 20) -> MachineLayout {
        var layout = MachineLayout()
        layout.vcpuCount = vcpus
        layout.ramSize = ram
        return layout
    }

    @Test func theELF64PlanWritesTablesSegmentsAndTreeAndStartsEveryVCPU() throws {
        let tree: [UInt8] = [0xD0, 0x0D, 0xFE, 0xED, 1, 2, 3]
        let plan = try ELF64BootProtocol().plan(BootRequest(image: ELFBuilder().bytes(), name: "g", layout: layout(), deviceTree: tree))
        #expect(plan.protocolName == "elf64")
        #expect(plan.writes.contains(.bytes(at: 0x10_0000, Array(0..<0x10))), "the segment's file bytes at its address")
        #expect(plan.writes.contains(.zero(at: 0x10_0010, count: 0x2000 - 0x10)), "its zeroed tail")
        #expect(plan.writes.last == .bytes(at: BootLayout.deviceTreeAddress, tree))
        #expect(plan.writes.contains { $0.address == BootLayout.gdtAddress }, "the GDT")
        #expect(plan.writes.contains { $0.address == BootLayout.pml4Address && $0.count == 0x6000 }, "the page tables")
        #expect(plan.vcpus == [
            .longMode(rip: 0x10_0000, rsp: BootLayout.stackTop(vcpu: 0), rdi: BootLayout.deviceTreeAddress, rsi: 0),
            .longMode(rip: 0x10_0000, rsp: BootLayout.stackTop(vcpu: 1), rdi: BootLayout.deviceTreeAddress, rsi: 1),
        ])
        try plan.validate(ramSize: 64 << 20, vcpuCount: 2)
        #expect(ELF64BootProtocol().recognizes(ELFBuilder().bytes()))
        #expect(!ELF64BootProtocol().recognizes(Array("#!/bin/sh\n".utf8)))
    }

    @Test func planWritesMatchWhatTheOldLoaderPutInMemory() throws {
        // The same bytes whether the tables are written directly or through a plan.
        let direct = try GuestMemory(size: 2 << 20), planned = try GuestMemory(size: 2 << 20)
        try LongMode.writeTables(into: direct)
        for write in LongMode.tableWrites() { try planned.apply(write) }
        #expect(try direct.read(at: 0, count: 0x10_0000) == planned.read(at: 0, count: 0x10_0000))
        // PML4[0] → PDPT, PDPT[3] → the fourth page directory, its last entry maps 4 GiB − 2 MiB.
        #expect(try direct.load(UInt64.self, at: BootLayout.pml4Address) == BootLayout.pdptAddress | 3)
        #expect(try direct.load(UInt64.self, at: BootLayout.pdptAddress + 24) == (BootLayout.pageDirectoriesAddress + 0x3000) | 3)
        #expect(try direct.load(UInt64.self, at: BootLayout.pageDirectoriesAddress + 0x3000 + 511 * 8) == (0xFFE0_0000 | 0x83))
    }

    @Test func badPlansAreRefusedWithTheValue() throws {
        let plan = BootPlan(protocolName: "test", writes: [.bytes(at: (2 << 20) - 2, [1, 2, 3])], vcpus: [.waitForSIPI])
        #expect(throws: BootPlanError.writeOutsideRAM(protocolName: "test", address: (2 << 20) - 2, count: 3, ramSize: 2 << 20)) {
            try plan.validate(ramSize: 2 << 20, vcpuCount: 1)
        }
        let wrapping = BootPlan(protocolName: "test", writes: [.zero(at: UInt64.max, count: 2)], vcpus: [])
        #expect(throws: BootPlanError.self) { try wrapping.validate(ramSize: 2 << 20, vcpuCount: 0) }
        #expect(throws: BootPlanError.vcpuCount(protocolName: "test", planned: 1, machine: 2)) {
            try BootPlan(protocolName: "test", writes: [], vcpus: [.waitForSIPI]).validate(ramSize: 2 << 20, vcpuCount: 2)
        }
        let bigTree = [UInt8](repeating: 0, count: Int(BootLayout.deviceTreeMaxSize) + 1)
        #expect(throws: ELFError.deviceTreeTooLarge(size: bigTree.count, maximum: BootLayout.deviceTreeMaxSize)) {
            try ELF64BootProtocol().plan(BootRequest(image: ELFBuilder().bytes(), name: "g", layout: layout(), deviceTree: bigTree))
        }
        var small = ELFBuilder()
        small.segments[0].memorySize = 0x20_0000
        #expect(throws: ELFError.self) { try ELF64BootProtocol().plan(BootRequest(image: small.bytes(), name: "g", layout: layout(ram: 2 << 20), deviceTree: [])) }
    }
}
