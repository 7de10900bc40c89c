import Memory
@testable import Platform
import Testing
import TestSupport

/// Builds ELF64 files byte by byte, so each malformed variant differs from a good one in one field.
struct ELFBuilder {
    struct Segment { var type: UInt32 = 1; var offset: UInt64; var address: UInt64; var fileSize: UInt64; var memorySize: UInt64 }
    var type: UInt16 = 2
    var machine: UInt16 = 62
    var elfClass: UInt8 = 2
    var entry: UInt64 = 0x10_0000
    var segments: [Segment] = [Segment(offset: 0x1000, address: 0x10_0000, fileSize: 0x10, memorySize: 0x2000)]
    var payload: [UInt8] = Array(0..<0x10)

    func bytes() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 0x1000)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[at + i] = x } } }
        b[0] = 0x7F; b[1] = 0x45; b[2] = 0x4C; b[3] = 0x46; b[4] = elfClass; b[5] = 1; b[6] = 1
        put(type, 16); put(machine, 18); put(UInt32(1), 20); put(entry, 24)
        put(UInt64(64), 32); put(UInt16(64), 52); put(UInt16(56), 54); put(UInt16(segments.count), 56)
        for (i, s) in segments.enumerated() {
            let h = 64 + i * 56
            put(s.type, h); put(UInt32(5), h + 4); put(s.offset, h + 8); put(s.address, h + 16); put(s.address, h + 24)
            put(s.fileSize, h + 32); put(s.memorySize, h + 40); put(UInt64(0x1000), h + 48)
        }
        return b + payload
    }
}

@Suite struct ELFImageTests {
    @Test func acceptsAWellFormedExecutableAndLoadsIt() throws {
        let image = try ELFImage(bytes: ELFBuilder().bytes())
        #expect(image.entry == 0x10_0000)
        #expect(image.segments == [ELFImage.Segment(address: 0x10_0000, fileOffset: 0x1000, fileSize: 0x10, memorySize: 0x2000)])
        let memory = try GuestMemory(size: 4 << 20)
        try memory.write([UInt8](repeating: 0xCC, count: 0x3000), at: 0x10_0000)
        try image.load(into: memory)
        #expect(try memory.read(at: 0x10_0000, count: 0x10) == Array(0..<0x10))
        #expect(try memory.read(at: 0x10_0010, count: 0x1FF0).allSatisfy { $0 == 0 }, "the bss tail is zeroed")
        #expect(try memory.load(UInt8.self, at: 0x10_2000) == 0xCC, "nothing past memsz is touched")
    }

    @Test(arguments: [
        (0, "g: truncated ELF: the ELF header needs 64 bytes, the file has 0"),
        (10, "g: truncated ELF: the ELF header needs 64 bytes, the file has 10"),
        (100, "g: truncated ELF: the program header table (1 entries at offset 64) needs 120 bytes, the file has 100"),
    ])
    func truncatedFilesAreRefused(length: Int, message: String) {
        let bytes = Array(ELFBuilder().bytes().prefix(length))
        #expect(describe { try ELFImage(bytes: bytes, name: "g") } == message)
    }

    @Test func wrongMagicClassTypeAndMachineAreNamed() {
        var bytes = ELFBuilder().bytes(); bytes[1] = 0x46
        #expect(describe { try ELFImage(bytes: bytes, name: "g") } == "g: not an ELF file (bad magic)")
        var b = ELFBuilder(); b.elfClass = 1
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: unsupported ELF class 1, expected 2 (ELF64)")
        b = ELFBuilder(); b.type = 3
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: unsupported ELF e_type 3, expected 2 (ET_EXEC)")
        b = ELFBuilder(); b.machine = 183
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: unsupported ELF e_machine 183, expected 62 (x86-64)")
    }

    @Test func segmentProblemsAreNamed() {
        var b = ELFBuilder(); b.segments[0].fileSize = 0x100
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: segment 0 (256 bytes at file offset 4096) lies outside the 4112-byte file")
        b = ELFBuilder(); b.segments[0].offset = UInt64.max - 4
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") }.contains("lies outside"))
        b = ELFBuilder(); b.segments[0].memorySize = 4
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: segment 0 has p_filesz 16 larger than p_memsz 4")
        b = ELFBuilder(); b.segments[0].address = UInt64.max - 0x10; b.entry = UInt64.max - 0x10
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") }.contains("wraps past the address space"))
        b = ELFBuilder(); b.segments.append(.init(offset: 0x1000, address: 0x10_1000, fileSize: 0, memorySize: 0x10))
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: segments at 0x100000 and 0x101000 overlap")
        b = ELFBuilder(); b.segments[0].type = 4
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: no PT_LOAD segment")
        b = ELFBuilder(); b.entry = 0x50_0000
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g") } == "g: entry point 0x500000 is not inside a loaded segment")
    }

    @Test func loadingRefusesReservedMemoryAndRAMOverflow() throws {
        let memory = try GuestMemory(size: 2 << 20)
        var b = ELFBuilder(); b.segments[0].address = 0x8_0000; b.entry = 0x8_0000
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g").load(into: memory, name: "g") }
            == "g: segment at 0x80000 (8192 bytes) overlaps the VMM's reserved memory below 0x100000")
        b = ELFBuilder(); b.segments[0].memorySize = 0x20_0000
        #expect(describe { try ELFImage(bytes: b.bytes(), name: "g").load(into: memory, name: "g") }
            == "g: segment at 0x100000 (2097152 bytes) does not fit in 2 MiB of guest RAM")
    }

    /// Every corrupted image is either accepted or refused with an error; nothing traps.
    @Test(arguments: testSeeds([1, 2, 3, 0xE1F]))
    func randomCorruptionNeverTraps(seed: UInt64) {
        let good = ELFBuilder().bytes()
        var generator = SplitMix64(seed: seed)
        var refused = 0
        for _ in 0..<2000 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                bytes[Int.random(in: 0..<200, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator))) }
            if (try? ELFImage(bytes: bytes)) == nil { refused += 1 }
        }
        #expect(refused > 0, "corruption was noticed at least once: \(replayHint(seed))")
    }
}

@Suite struct BootLayoutTests {
    @Test func reservedStructuresStayBelowTheGuestLoadBase() {
        #expect(BootLayout.stackTop(vcpu: BootLayout.maxVCPUs - 1) <= BootLayout.deviceTreeAddress)
        #expect(BootLayout.pageDirectoriesAddress + 4 * 0x1000 <= BootLayout.stacksBase)
        #expect(BootLayout.deviceTreeAddress + BootLayout.deviceTreeMaxSize == BootLayout.guestLoadBase)
        #expect(BootLayout.stackTop(vcpu: 0) % 16 == 0)
    }
}

func describe<Result>(_ body: () throws -> Result) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}
