@testable import MachineDevices
import Memory
import Testing
import TestSupport

/// Builds VT-d tables in a small RAM, as a guest would.
struct VTdTables {
    let ram: GuestMemory
    let memory: PhysicalMemory
    var nextPage: UInt64 = 0x10_0000
    let root: UInt64 = 0x1000

    init() throws {
        ram = try GuestMemory(size: 16 << 20)
        memory = PhysicalMemory([PhysicalMemory.Region(base: 0, memory: ram)])
    }

    mutating func page() -> UInt64 {
        defer { nextPage += 0x1000 }
        return nextPage
    }

    /// Root and context entries for `sid` with address width `aw` (1: 3 levels, 2: 4 levels),
    /// translation type `tt`, FPD `quiet`; returns the top page table.
    mutating func context(sid: UInt16, aw: UInt64 = 1, tt: UInt64 = 0, quiet: Bool = false) throws -> UInt64 {
        let contextTable = page(), top = page()
        try ram.store(contextTable | 1, at: root + UInt64(sid >> 8) * 16)
        let at = contextTable + UInt64(sid & 0xFF) * 16
        try ram.store(top | tt << 2 | (quiet ? 2 : 0) | 1, at: at)
        try ram.store(aw | UInt64(sid) << 8, at: at + 8)
        return top
    }

    /// Maps `iova` to `target` with a page of `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) under `top`
    /// of a `levels`-level table; `permissions` are R (1) and W (2).
    mutating func map(_ iova: UInt64, to target: UInt64, top: UInt64, levels: Int = 3, level: Int = 1, permissions: UInt64 = 3) throws {
        var table = top
        for l in stride(from: levels, to: level, by: -1) {
            let at = table + ((iova >> UInt64(12 + 9 * (l - 1))) & 0x1FF) * 8
            var entry = try ram.load(UInt64.self, at: at)
            if entry & 3 == 0 {
                entry = page() | 3
                try ram.store(entry, at: at)
            }
            table = entry & 0x000F_FFFF_FFFF_F000
        }
        let at = table + ((iova >> UInt64(12 + 9 * (level - 1))) & 0x1FF) * 8
        try ram.store(target | permissions | (level > 1 ? 1 << 7 : 0), at: at)
    }
}

extension Result {
    /// The error, or nil for a success.
    var fault: Failure? {
        if case let .failure(error) = self { error } else { nil }
    }
}

@Suite struct VTdTranslationTests {
    typealias T = VTdTranslation

    func translate(_ tables: VTdTables, _ iova: UInt64, sid: UInt16, write: Bool = false) -> Result<T.DMAResult, T.TranslationFault> {
        Result { () throws(T.TranslationFault) in try T.translateDMA(iova, sid: sid, write: write, rootTable: tables.root, memory: tables.memory) }
    }

    @Test func threeAndFourLevelWalksWithLargePages() throws {
        var tables = try VTdTables()
        let sid: UInt16 = 0x0018
        let top = try tables.context(sid: sid)
        try tables.map(0x0, to: 0x5000, top: top)
        try tables.map(0x4020_0000, to: 0x60_0000, top: top, level: 2)
        try tables.map(0x80_0000_0000 - 0x4000_0000, to: 0x4000_0000, top: top, level: 3)
        #expect(try translate(tables, 0x123, sid: sid).get() == T.DMAResult(address: 0x5123, pageEnd: 0x5FFF))
        #expect(try translate(tables, 0x4021_2345, sid: sid).get() == T.DMAResult(address: 0x61_2345, pageEnd: 0x7F_FFFF))
        #expect(try translate(tables, 0x7F_C000_0042, sid: sid).get().address == 0x4000_0042)
        #expect(translate(tables, 0x80_0000_0000, sid: sid) == .failure(T.TranslationFault(.addressBeyondWidth)), "beyond 39 bits")

        let sid4: UInt16 = 0x0120  // bus 1
        let top4 = try tables.context(sid: sid4, aw: 2)
        try tables.map(0xFF_FFFF_F000, to: 0x7000, top: top4, levels: 4)
        #expect(try translate(tables, 0xFF_FFFF_F008, sid: sid4).get().address == 0x7008)
        #expect(translate(tables, 1 << 48, sid: sid4) == .failure(T.TranslationFault(.addressBeyondWidth)), "beyond 48 bits")
    }

    @Test func permissionsAndMissingEntriesFault() throws {
        var tables = try VTdTables()
        let sid: UInt16 = 0x0010
        let top = try tables.context(sid: sid)
        try tables.map(0x1000, to: 0x9000, top: top, permissions: 1)
        #expect(try translate(tables, 0x1000, sid: sid).get().address == 0x9000)
        #expect(translate(tables, 0x1000, sid: sid, write: true) == .failure(T.TranslationFault(.writeNotPermitted)))
        #expect(translate(tables, 0x2000, sid: sid) == .failure(T.TranslationFault(.readNotPermitted)), "no leaf entry")
        #expect(translate(tables, 0, sid: 0x0011) == .failure(T.TranslationFault(.contextEntryNotPresent)))
        #expect(translate(tables, 0, sid: 0x0300) == .failure(T.TranslationFault(.rootEntryNotPresent)))
        _ = try tables.context(sid: 0x0020, quiet: true)
        #expect(translate(tables, 0, sid: 0x0020) == .failure(T.TranslationFault(.readNotPermitted, quiet: true)), "FPD makes it quiet")
        _ = try tables.context(sid: 0x0028, aw: 3)
        #expect(translate(tables, 0, sid: 0x0028) == .failure(T.TranslationFault(.invalidContextEntry)), "AW 3 (57 bits) is not offered")
        _ = try tables.context(sid: 0x0030, tt: 2)
        #expect(try translate(tables, 0xABC_D123, sid: 0x0030).get().address == 0xABC_D123, "pass-through")
        _ = try tables.context(sid: 0x0038, tt: 1)
        #expect(translate(tables, 0, sid: 0x0038) == .failure(T.TranslationFault(.invalidContextEntry)), "device-TLB type is not offered")
        #expect(throws: T.TranslationFault(.rootTableUnreachable)) {
            try T.translateDMA(0, sid: 0, write: false, rootTable: 0xFFFF_F000, memory: tables.memory)
        }
    }

    func irte(vector: UInt8, destination: UInt32, level: Bool = false, logical: Bool = false, sid: UInt16 = 0, svt: UInt64 = 0, sq: UInt64 = 0) -> (UInt64, UInt64) {
        (1 | (logical ? 1 << 2 : 0) | (level ? 1 << 4 : 0) | UInt64(vector) << 16 | UInt64(destination) << 32,
         UInt64(sid) | sq << 16 | svt << 18)
    }

    @Test func interruptRemappingThroughTheTable() throws {
        let tables = try VTdTables()
        let base: UInt64 = 0x20_0000
        let table = T.InterruptTable(register: base | 3)  // 2^4 = 16 entries
        #expect(table.entries == 16)
        func store(_ index: UInt64, _ e: (UInt64, UInt64)) throws {
            try tables.ram.store(e.0, at: base + index * 16)
            try tables.ram.store(e.1, at: base + index * 16 + 8)
        }
        func remap(_ address: UInt64, _ data: UInt32 = 0, sid: UInt16? = nil, table: T.InterruptTable? = nil, compatibility: Bool = false) -> Result<(address: UInt64, data: UInt32), T.TranslationFault> {
            Result { () throws(T.TranslationFault) in
                try T.remapInterrupt(address: address, data: data, sid: sid, table: table ?? T.InterruptTable(register: base | 3),
                                     compatibilityAllowed: compatibility, memory: tables.memory)
            }
        }
        func handleAddress(_ handle: UInt64, shv: Bool = false) -> UInt64 {
            0xFEE0_0000 | (handle & 0x7FFF) << 5 | 1 << 4 | (shv ? 1 << 3 : 0) | (handle >> 15) << 2
        }
        try store(2, irte(vector: 0xEE, destination: 0x0300))  // xAPIC mode: destination in DST bits 15:8
        let out = try remap(handleAddress(2)).get()
        #expect(out.address == 0xFEE0_3000 && out.data == 0xEE)
        try store(5, irte(vector: 0x40, destination: 0x0100, level: true, logical: true))
        let level = try remap(handleAddress(4, shv: true), 1).get()
        #expect(level.address == 0xFEE0_1004 && level.data == 0xC040, "subhandle 1 + handle 4, logical, level")
        #expect(remap(handleAddress(16)).fault?.reason.rawValue == 0x21, "index beyond the table")
        #expect(remap(handleAddress(3)).fault?.reason.rawValue == 0x22, "entry not present")
        #expect(T.Fault.interruptTableUnreachable.rawValue == 0x23 && T.Fault.reservedBitsInPagingEntry.rawValue == 0x0C)
        #expect(remap(0xFEE0_1000).fault?.reason == (.compatibilityFormatBlocked))
        let compatible = try remap(0xFEE0_1000, 0x31, compatibility: true).get()
        #expect(compatible.address == 0xFEE0_1000 && compatible.data == 0x31, "CFIS lets it through")
        var x2apicTable = T.InterruptTable(register: base | 3 | 1 << 11)
        x2apicTable.extendedMode = true
        #expect(remap(0xFEE0_1000, 0x31, table: x2apicTable, compatibility: true).fault?.reason == .compatibilityFormatBlocked,
                "x2APIC mode blocks compatibility format even with CFIS")
        var quiet = irte(vector: 0x60, destination: 0, sid: 0x0018, svt: 1)
        quiet.0 |= 2  // FPD
        try store(12, quiet)
        #expect(remap(handleAddress(12), sid: 0x0019).fault == T.TranslationFault(.sourceIDMismatch, quiet: true), "FPD: not recorded")

        // x2APIC mode: 32-bit destinations, the upper bits where KVM's 32-bit IDs take them.
        try store(6, irte(vector: 0x50, destination: 300))
        var extended = T.InterruptTable(register: base | 3 | 1 << 11)
        extended.extendedMode = true
        let wide = try remap(handleAddress(6), table: extended).get()
        #expect(wide.address == 0x100_FEE2_C000, "300 = 0x12C: 0x2C in bits 19:12, 0x100 in bits 63:40")

        // Source-ID verification.
        try store(7, irte(vector: 0x51, destination: 0, sid: 0x0018, svt: 1))
        #expect((try? remap(handleAddress(7), sid: 0x0018).get()) != nil)
        #expect(remap(handleAddress(7), sid: 0x0019).fault?.reason == (.sourceIDMismatch))
        #expect((try? remap(handleAddress(7), sid: nil).get()) != nil, "no requester: no verification")
        try store(8, irte(vector: 0x52, destination: 0, sid: 0x0018, svt: 1, sq: 3))
        #expect((try? remap(handleAddress(8), sid: 0x001F).get()) != nil, "SQ 3 ignores the function")
        try store(9, irte(vector: 0x53, destination: 0, sid: 0x0204, svt: 2))
        #expect((try? remap(handleAddress(9), sid: 0x0310).get()) != nil, "bus 3 in 2…4")
        #expect(remap(handleAddress(9), sid: 0x0510).fault?.reason == (.sourceIDMismatch))
        try store(10, irte(vector: 0x53, destination: 0, svt: 3))
        #expect(remap(handleAddress(10), sid: 0).fault?.reason == (.reservedBitsInInterruptEntry))
        var posted = irte(vector: 0x54, destination: 0)
        posted.0 |= 1 << 15
        try store(11, posted)
        #expect(remap(handleAddress(11)).fault?.reason == (.reservedBitsInInterruptEntry), "posting is not offered")
    }

    /// Tables full of random bits, anywhere (all guest-controlled): no walk traps (every read
    /// goes through `PhysicalMemory`'s bounds check), and each ends in a fault or in a place
    /// inside one page of at most 1 GiB.
    @Test(arguments: testSeeds([11, 12, 13, 14]))
    func randomTablesNeverEscape(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let tables = try VTdTables()
        // Scatter random entries over the first MiB, biased to point back into it.
        for _ in 0..<4096 {
            let at = (random.next() % (1 << 20)) & ~7
            let value = random.next() % 3 == 0 ? random.next() : (random.next() % (1 << 20)) & ~0xFFF | random.next() & 0x8F
            try tables.ram.store(value, at: at)
        }
        for _ in 0..<20_000 {
            let root = random.next() % 4 == 0 ? random.next() : (random.next() % (1 << 20)) & ~0xFFF
            let iova = random.next() % 2 == 0 ? random.next() : random.next() % (1 << 30)
            if let result = try? T.translateDMA(iova, sid: UInt16(truncatingIfNeeded: random.next()), write: random.next() % 2 == 0,
                                                rootTable: root, memory: tables.memory) {
                // Within one page of at most 1 GiB, ending where such a page ends.
                let span = result.pageEnd - result.address
                #expect(result.address <= result.pageEnd && span < 1 << 30 && (result.pageEnd + 1) % 4096 == 0, "\(replayHint(seed))")
            }
            let table = T.InterruptTable(register: random.next() % 2 == 0 ? random.next() : (random.next() % (1 << 20)) | 0xF)
            _ = try? T.remapInterrupt(address: random.next() | (random.next() % 2 == 0 ? 0x10 : 0), data: UInt32(truncatingIfNeeded: random.next()),
                                      sid: random.next() % 2 == 0 ? nil : UInt16(truncatingIfNeeded: random.next()), table: table,
                                      compatibilityAllowed: random.next() % 2 == 0, memory: tables.memory)
        }
    }
}
