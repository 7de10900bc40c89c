import MSIX
import Testing

@Suite("Layout validation and the exclusive BAR")
struct MSIXLayoutTests {
    func layoutError(_ n: Int, table: MSIXPlacement, tableBAR: UInt64, pba: MSIXPlacement, pbaBAR: UInt64) -> MSIXError? {
        do {
            _ = try MSIXLayout(vectorCount: n, table: table, tableBARSize: tableBAR, pba: pba, pbaBARSize: pbaBAR)
            return nil
        } catch {
            return error
        }
    }

    @Test("validation: vector count must be 1…2048, named in the message")
    func vectorCount() {
        for n in [0, -1, 2049, 100_000] {
            let error = layoutError(n, table: .init(bar: 0, offset: 0), tableBAR: 1 << 20, pba: .init(bar: 1, offset: 0), pbaBAR: 1 << 20)
            #expect(error == .vectorCountOutOfRange(n))
        }
        #expect(MSIXError.vectorCountOutOfRange(0).description == "MSI-X vector count 0 is outside 1…2048")
        #expect(MSIXError.vectorCountOutOfRange(2049).description == "MSI-X vector count 2049 is outside 1…2048")
        #expect(throws: MSIXError.vectorCountOutOfRange(0)) { try MSIXLayout.exclusiveBAR(vectorCount: 0, bar: 0) }
        #expect(throws: MSIXError.vectorCountOutOfRange(2049)) { try MSIXLayout.exclusiveBAR(vectorCount: 2049, bar: 0) }
        for n in [1, 2048] {
            #expect(layoutError(n, table: .init(bar: 0, offset: 0), tableBAR: 1 << 20, pba: .init(bar: 1, offset: 0), pbaBAR: 4096) == nil)
        }
    }

    @Test("validation: BIR must be 0–5")
    func barIndex() {
        let e1 = layoutError(16, table: .init(bar: 6, offset: 0), tableBAR: 4096, pba: .init(bar: 0, offset: 0), pbaBAR: 4096)
        #expect(e1 == .barIndexOutOfRange(structure: .table, bar: 6))
        #expect(e1?.description == "MSI-X table BIR 6 is not a BAR (0–5)")
        let e2 = layoutError(16, table: .init(bar: 0, offset: 0), tableBAR: 4096, pba: .init(bar: -1, offset: 0x800), pbaBAR: 4096)
        #expect(e2?.description == "MSI-X PBA BIR -1 is not a BAR (0–5)")
        #expect(throws: MSIXError.barIndexOutOfRange(structure: .table, bar: 7)) { try MSIXLayout.exclusiveBAR(vectorCount: 4, bar: 7) }
    }

    @Test("validation: offsets must be 8-byte aligned and fit 32 bits")
    func alignment() {
        let e1 = layoutError(16, table: .init(bar: 0, offset: 0x804), tableBAR: 8192, pba: .init(bar: 1, offset: 0), pbaBAR: 4096)
        #expect(e1 == .offsetMisaligned(structure: .table, offset: 0x804))
        #expect(e1?.description == "MSI-X table offset 0x804 is not 8-byte aligned")
        let e2 = layoutError(16, table: .init(bar: 0, offset: 0), tableBAR: 8192, pba: .init(bar: 0, offset: 0x1004), pbaBAR: 8192)
        #expect(e2?.description == "MSI-X PBA offset 0x1004 is not 8-byte aligned")
        let e3 = layoutError(16, table: .init(bar: 0, offset: 1 << 32), tableBAR: 1 << 33, pba: .init(bar: 1, offset: 0), pbaBAR: 4096)
        #expect(e3?.description == "MSI-X table offset 0x100000000 does not fit the 32-bit offset/BIR register")
    }

    @Test("validation: table and PBA must fit their BARs, message names sizes")
    func fit() {
        let e1 = layoutError(2048, table: .init(bar: 1, offset: 0), tableBAR: 16 * 1024, pba: .init(bar: 2, offset: 0), pbaBAR: 4096)
        #expect(e1?.description == "MSI-X table (2048 entries at 0x0, 32 KiB) does not fit BAR 1 of 16 KiB")
        let e2 = layoutError(16, table: .init(bar: 0, offset: 0), tableBAR: 4096, pba: .init(bar: 2, offset: 0x1000), pbaBAR: 4096)
        #expect(e2?.description == "MSI-X PBA (16 entries at 0x1000, 8 bytes) does not fit BAR 2 of 4 KiB")
        #expect(e2 == .structureDoesNotFit(structure: .pba, vectors: 16, offset: 0x1000, size: 8, bar: 2, barSize: 4096))
        // Exactly at the end fits.
        #expect(layoutError(16, table: .init(bar: 0, offset: 4096 - 256), tableBAR: 4096, pba: .init(bar: 2, offset: 4088), pbaBAR: 4096) == nil)
        // A zero-sized BAR holds nothing.
        let e3 = layoutError(1, table: .init(bar: 0, offset: 0), tableBAR: 0, pba: .init(bar: 2, offset: 0), pbaBAR: 4096)
        #expect(e3?.description == "MSI-X table (1 entries at 0x0, 16 bytes) does not fit BAR 0 of 0 bytes")
    }

    @Test("validation: table and PBA must not overlap in one BAR")
    func overlap() {
        let e1 = layoutError(16, table: .init(bar: 0, offset: 0), tableBAR: 4096, pba: .init(bar: 0, offset: 0x80), pbaBAR: 4096)
        #expect(e1 == .structuresOverlap(bar: 0, tableOffset: 0, tableSize: 256, pbaOffset: 0x80, pbaSize: 8))
        #expect(e1?.description == "MSI-X table (256 bytes at 0x0) and PBA (8 bytes at 0x80) overlap in BAR 0")
        // PBA just before, just after: fine. Same offsets in different BARs: fine.
        #expect(layoutError(16, table: .init(bar: 0, offset: 8), tableBAR: 4096, pba: .init(bar: 0, offset: 0), pbaBAR: 4096) == nil)
        #expect(layoutError(16, table: .init(bar: 0, offset: 0), tableBAR: 4096, pba: .init(bar: 0, offset: 0x100), pbaBAR: 4096) == nil)
        #expect(layoutError(16, table: .init(bar: 0, offset: 0), tableBAR: 4096, pba: .init(bar: 3, offset: 0), pbaBAR: 4096) == nil)
        let e2 = layoutError(16, table: .init(bar: 0, offset: 8), tableBAR: 4096, pba: .init(bar: 0, offset: 0x100), pbaBAR: 4096)
        #expect(e2?.description == "MSI-X table (256 bytes at 0x8) and PBA (8 bytes at 0x100) overlap in BAR 0")
    }

    @Test("validation: capability offset ≥ 0x40, dword aligned, 12 bytes within 256")
    func capabilityOffset() throws {
        let sink = TestSink()
        let layout = try MSIXLayout.exclusiveBAR(vectorCount: 4, bar: 0)
        func error(_ offset: Int) -> MSIXError? {
            do {
                _ = try MSIXDevice(layout: layout, capabilityOffset: offset, sink: sink)
                return nil
            } catch {
                return error
            }
        }
        #expect(error(0x3C)?.description == "MSI-X capability offset 0x3c is inside the standard header (below 0x40)")
        #expect(error(0)?.description == "MSI-X capability offset 0x0 is inside the standard header (below 0x40)")
        #expect(error(0x42)?.description == "MSI-X capability offset 0x42 is not dword-aligned")
        #expect(error(0xF8)?.description == "MSI-X capability at 0xf8 (12 bytes) does not fit the 256-byte configuration space")
        #expect(error(0x1000) == .capabilityDoesNotFit(0x1000))
        #expect(error(0x40) == nil)
        #expect(error(0xF4) == nil)
    }

    @Test("exclusive BAR layout: table at 0, PBA at max(2048, 16n), power-of-two BAR ≥ 4 KiB",
          arguments: [
              (1, 0x800, 8, 4096), (16, 0x800, 8, 4096), (128, 0x800, 16, 4096), (129, 0x810, 24, 4096),
              (256, 0x1000, 32, 8192), (2048, 0x8000, 256, 65536),
          ] as [(Int, UInt64, UInt64, UInt64)])
    func exclusiveBAR(n: Int, pbaOffset: UInt64, pbaSize: UInt64, barSize: UInt64) throws {
        let layout = try MSIXLayout.exclusiveBAR(vectorCount: n, bar: 2)
        #expect(layout.vectorCount == n)
        #expect(layout.table == MSIXPlacement(bar: 2, offset: 0))
        #expect(layout.tableSize == UInt64(16 * n))
        #expect(layout.pba == MSIXPlacement(bar: 2, offset: pbaOffset))
        #expect(layout.pbaSize == pbaSize)
        #expect(layout.tableBARSize == barSize)
        #expect(layout.pbaBARSize == barSize)
        #expect(MSIXLayout.exclusiveBARSize(vectorCount: n) == barSize)
        #expect(MSIXLayout.exclusivePBAOffset(vectorCount: n) == pbaOffset)
        #expect(MSIXLayout.pbaSize(vectorCount: n) == (UInt64(n) + 63) / 64 * 8)
    }
}
