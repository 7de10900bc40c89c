@testable import Platform
import Testing
import TestSupport

/// Builds ELF32 i386 kernels byte by byte: one PT_LOAD at 1 MiB with `payload` (file offset
/// 0x1000, so a Multiboot header at the payload's start lies in the first 8 KiB), and a PT_NOTE
/// with `notes` when there are any.
struct ELF32Builder {
    var entry: UInt32 = 0x10_0000
    var address: UInt32 = 0x10_0000
    var memorySize: UInt32 = 0x2000
    var payload: [UInt8] = Array(repeating: 0x90, count: 0x40)
    var notes: [UInt8] = []

    /// One note: owner, type, descriptor, each part padded to 4 bytes.
    static func note(owner: String, type: UInt32, descriptor: [UInt8]) -> [UInt8] {
        var b = LittleEndianWriter()
        let name = Array(owner.utf8) + [0]
        b.u32(UInt32(name.count)); b.u32(UInt32(descriptor.count)); b.u32(type)
        func pad(_ x: [UInt8]) -> [UInt8] { x + [UInt8](repeating: 0, count: (4 - x.count % 4) % 4) }
        return b.bytes + pad(name) + pad(descriptor)
    }

    static func pvhNote(entry: UInt64, size: Int = 4) -> [UInt8] {
        note(owner: "Xen", type: 18, descriptor: (0..<size).map { UInt8(truncatingIfNeeded: entry >> (8 * UInt64($0))) })
    }

    func bytes() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 0x1000)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[at + i] = x } } }
        b[0] = 0x7F; b[1] = 0x45; b[2] = 0x4C; b[3] = 0x46; b[4] = 1; b[5] = 1; b[6] = 1
        let phnum = notes.isEmpty ? 1 : 2
        put(UInt16(2), 16); put(UInt16(3), 18); put(UInt32(1), 20); put(entry, 24); put(UInt32(52), 28)
        put(UInt16(52), 40); put(UInt16(32), 42); put(UInt16(phnum), 44)
        put(UInt32(1), 52); put(UInt32(0x1000), 56); put(address, 60); put(address, 64)
        put(UInt32(payload.count), 68); put(memorySize, 72); put(UInt32(7), 76); put(UInt32(0x1000), 80)
        if !notes.isEmpty {
            put(UInt32(4), 84); put(UInt32(0x800), 88); put(UInt32(notes.count), 100)
            for (i, x) in notes.enumerated() { b[0x800 + i] = x }
        }
        return b + payload
    }
}

/// A Multiboot header: magic, flags, checksum (correct unless `checksum` says otherwise), and the
/// five address fields when given.
func multibootHeader(flags: UInt32 = 0b11, checksum: UInt32? = nil, addresses: [UInt32] = []) -> [UInt8] {
    var b = LittleEndianWriter()
    b.u32(0x1BAD_B002); b.u32(flags); b.u32(checksum ?? 0 &- (0x1BAD_B002 &+ flags))
    for a in addresses { b.u32(a) }
    return b.bytes
}

func layout(ramMiB: UInt64 = 64, vcpus: Int = 1, commandLine: String = "") -> MachineLayout {
    var l = MachineLayout()
    l.ramSize = ramMiB << 20
    l.vcpuCount = vcpus
    l.commandLine = commandLine
    return l
}

/// Reads the plan's writes back as memory, so the tests can follow the pointers a kernel would.
struct PlannedMemory {
    var bytes: [UInt8]
    init(_ plan: BootPlan, size: Int = 8 << 20) {
        bytes = [UInt8](repeating: 0xEE, count: size)
        for write in plan.writes {
            switch write {
            case let .bytes(at, data): bytes.replaceSubrange(Int(at)..<(Int(at) + data.count), with: data)
            case let .zero(at, count): bytes.replaceSubrange(Int(at)..<(Int(at) + Int(count)), with: [UInt8](repeating: 0, count: Int(count)))
            }
        }
    }
    func u32(_ a: UInt64) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[Int(a) + $1]) << (8 * UInt32($1)) } }
    func u64(_ a: UInt64) -> UInt64 { UInt64(u32(a)) | UInt64(u32(a + 4)) << 32 }
    func string(_ a: UInt64) -> String { String(decoding: bytes[Int(a)...].prefix { $0 != 0 }, as: UTF8.self) }
}

func bootError(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}

@Suite struct MultibootTests {
    let mb = MultibootBootProtocol()

    @Test func theHeaderIsFoundOnlyAlignedAndInTheFirst8KiB() {
        var image = [UInt8](repeating: 0, count: 0x3000)
        #expect(MultibootBootProtocol.findHeader(in: image) == nil)
        image.replaceSubrange(0x1FF4..<0x2000, with: multibootHeader())
        #expect(MultibootBootProtocol.findHeader(in: image)?.offset == 0x1FF4, "the last place it fits")
        var late = [UInt8](repeating: 0, count: 0x3000)
        late.replaceSubrange(0x2000..<0x200C, with: multibootHeader())
        #expect(MultibootBootProtocol.findHeader(in: late) == nil, "beyond 8 KiB")
        var unaligned = [UInt8](repeating: 0, count: 0x3000)
        unaligned.replaceSubrange(0x102..<0x10E, with: multibootHeader())
        #expect(MultibootBootProtocol.findHeader(in: unaligned) == nil, "not 4-byte aligned")
        #expect(MultibootBootProtocol.findHeader(in: [0x02, 0xB0]) == nil, "shorter than a header")
        // With flag bit 16 the address fields belong to the header, so they must lie in 8 KiB too.
        var kludge = [UInt8](repeating: 0, count: 0x3000)
        kludge.replaceSubrange(0x1FE0..<0x2000, with: multibootHeader(flags: 1 << 16, addresses: [0x10_0000, 0x10_0000, 0, 0, 0x10_0020]))
        #expect(MultibootBootProtocol.findHeader(in: kludge)?.addresses != nil, "the last place the address fields fit")
        var straddling = [UInt8](repeating: 0, count: 0x3000)
        straddling.replaceSubrange(0x1FF0..<0x2010, with: multibootHeader(flags: 1 << 16, addresses: [0x10_0000, 0x10_0000, 0, 0, 0x10_0020]))
        #expect(MultibootBootProtocol.findHeader(in: straddling).map { $0.offset == 0x1FF0 && $0.addresses == nil } == true,
                "address fields past 8 KiB are not read (plan refuses the image by name)")
        #expect(bootError { try mb.plan(BootRequest(image: straddling, name: "k", layout: layout())) }.contains("past the end of the file or of its first 8 KiB"))
    }

    @Test func aMagicWithABadChecksumIsPassedOverForAValidHeaderAfterIt() {
        var image = [UInt8](repeating: 0, count: 0x3000)
        var stray = multibootHeader(); stray[8] ^= 1
        image.replaceSubrange(0x100..<0x10C, with: stray)
        #expect(MultibootBootProtocol.findHeader(in: image)?.offset == 0x100, "with no valid header, the first magic")
        #expect(bootError { try mb.plan(BootRequest(image: image, name: "k", layout: layout())) }.contains("checksum"))
        image.replaceSubrange(0x400..<0x40C, with: multibootHeader())
        #expect(MultibootBootProtocol.findHeader(in: image)?.offset == 0x400, "the first whose checksum holds")
        image.replaceSubrange(0x200..<0x20C, with: multibootHeader())
        #expect(MultibootBootProtocol.findHeader(in: image)?.offset == 0x200)
    }

    @Test func anELFKernelGetsTheInfoStructureTheSpecificationDescribes() throws {
        var kernel = ELF32Builder()
        kernel.payload = multibootHeader() + [UInt8](repeating: 0x90, count: 0x20)
        let modules = [BootModule(name: "first.img", bytes: Array("one".utf8)), BootModule(name: "second.img", bytes: [UInt8](repeating: 7, count: 5000))]
        let plan = try mb.plan(BootRequest(image: kernel.bytes(), name: "k.elf", layout: layout(vcpus: 3, commandLine: "a=1 b"), modules: modules))
        guard case let .protectedMode(eip, eax, ebx) = plan.vcpus[0] else { Issue.record("BSP: \(plan.vcpus[0])"); return }
        #expect(eip == 0x10_0000 && eax == 0x2BAD_B002)
        #expect(plan.vcpus[1] == .waitForSIPI && plan.vcpus[2] == .waitForSIPI, "APs wait for INIT/SIPI")
        let m = PlannedMemory(plan), info = UInt64(ebx)
        #expect(m.u32(info) == 1 << 0 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9)
        #expect(m.u32(info + 4) == 639 && m.u32(info + 8) == 63 * 1024, "mem_lower, mem_upper")
        #expect(m.string(UInt64(m.u32(info + 16))) == "k.elf a=1 b", "the kernel's name, then the command line")
        #expect(m.u32(info + 20) == 2)
        let list = UInt64(m.u32(info + 24))
        #expect(m.u32(list) == 0x10_2000, "the first module: the page after the kernel's 8 KiB")
        #expect(m.u32(list + 4) == 0x10_2003, "mod_end is one past the last byte")
        #expect(m.string(UInt64(m.u32(list + 8))) == "first.img")
        #expect(m.u32(list + 16) == 0x10_3000 && m.u32(list + 20) == 0x10_3000 + 5000)
        #expect(Array(m.bytes[0x10_2000..<0x10_2003]) == Array("one".utf8))
        let mapLength = m.u32(info + 44), map = UInt64(m.u32(info + 48))
        #expect(mapLength == 4 * 24)
        var ranges: [[UInt64]] = []
        for at in stride(from: map, to: map + UInt64(mapLength), by: 24) {
            #expect(m.u32(at) == 20)
            ranges.append([m.u64(at + 4), m.u64(at + 12), UInt64(m.u32(at + 20))])
        }
        #expect(ranges == [[0, 0x9_FC00, 1], [0x9_FC00, 0x400, 2], [0xE_0000, 0x2_0000, 2], [0x10_0000, 63 << 20, 1]])
        #expect(m.string(UInt64(m.u32(info + 64))) == "vmm")
        #expect(Array(m.bytes[0x10_0000..<0x10_000C]) == multibootHeader(), "the kernel is loaded")
    }

    @Test func anAoutKludgeImageIsPlacedByItsAddressFields() throws {
        // header at file offset 0x20, loaded at 2 MiB: header_addr = 0x20_0020; 0x100 bytes of
        // file, bss to 0x20_1000, entry at 0x20_0040.
        var image = [UInt8](repeating: 0xAB, count: 0x20)
        image += multibootHeader(flags: 1 << 16, addresses: [0x20_0020, 0x20_0000, 0x20_0100, 0x20_1000, 0x20_0040])
        image += [UInt8](repeating: 0xCD, count: 0x200 - image.count)
        let plan = try mb.plan(BootRequest(image: image, name: "flat.bin", layout: layout()))
        guard case let .protectedMode(eip, _, _) = plan.vcpus[0] else { Issue.record("\(plan.vcpus[0])"); return }
        #expect(eip == 0x20_0040)
        let m = PlannedMemory(plan)
        #expect(Array(m.bytes[0x20_0000..<0x20_0100]) == Array(image[0..<0x100]), "only up to load_end_addr")
        #expect(m.bytes[0x20_0100..<0x20_1000].allSatisfy { $0 == 0 }, "bss zeroed")
        #expect(m.bytes[0x20_1000] == 0xEE, "nothing after bss_end_addr")
    }

    @Test(arguments: [
        ([0x20_0010, 0x20_0020, 0, 0, 0x20_0020] as [UInt32], "load_addr 0x200020 must not be above header_addr 0x200010 nor before the file's start"),
        ([0x20_1000, 0x20_0000, 0, 0, 0x20_1000], "load_addr 0x200000 must not be above header_addr 0x201000 nor before the file's start"),
        ([0x20_0000, 0x20_0000, 0x20_9000, 0, 0x20_0000], "load_end_addr 0x209000 is before load_addr 0x200000 or past the file's end"),
        ([0x20_0000, 0x20_0000, 0x20_0100, 0x20_0080, 0x20_0000], "bss_end_addr 0x200080 is before the loaded data's end 0x200100"),
        ([0x20_0000, 0x20_0000, 0, 0x20_1000, 0x20_2000], "entry_addr 0x202000 is outside the kernel [0x200000, 0x201000)"),
    ])
    func inconsistentAddressFieldsAreRefused(addresses: [UInt32], detail: String) {
        var image = multibootHeader(flags: 1 << 16, addresses: addresses)
        image += [UInt8](repeating: 0, count: 0x200 - image.count)
        #expect(bootError { try mb.plan(BootRequest(image: image, name: "f", layout: layout())) } == "f: Multiboot address fields are inconsistent: \(detail)")
    }

    @Test(arguments: [12, 16, 31])
    func anImageTooShortForItsAddressFieldsIsRefused(length: Int) {
        // magic, flags and checksum fit; the five address fields (bytes 12..<32) do not.
        let whole = multibootHeader(flags: 1 << 16, addresses: [0x20_0000, 0x20_0000, 0, 0, 0x20_0000])
        let image = Array(whole[0..<length])
        #expect(MultibootBootProtocol.findHeader(in: image).map { $0.offset == 0 && $0.addresses == nil } == true)
        #expect(bootError { try mb.plan(BootRequest(image: image, name: "f", layout: layout())) }
            == "f: Multiboot address fields are inconsistent: flag bit 16 is set but the header's address fields run past the end of the file or of its first 8 KiB")
    }

    @Test func badImagesAreRefusedWithAMessageNamingTheValue() {
        var kernel = ELF32Builder()
        kernel.payload = multibootHeader(checksum: 0x1234)
        #expect(bootError { try mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }
            == "k: Multiboot header at offset 4096 has a bad checksum (magic + flags + checksum = 0x1badc239, must be 0)")
        kernel.payload = multibootHeader(flags: 1 << 3)
        #expect(bootError { try mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }.hasPrefix("k: Multiboot header asks for features this loader lacks (flags 0x8"))
        kernel.payload = multibootHeader()
        let big = BootModule(name: "huge.img", bytes: [UInt8](repeating: 0, count: 3 << 20))
        #expect(bootError { try mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout(ramMiB: 4), modules: [big])) }
            == "module huge.img (3 MiB) does not fit in RAM: it would end at 0x402000, RAM is 4 MiB")
        let long = String(repeating: "x", count: 5000)
        #expect(bootError { try mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout(commandLine: long))) }
            == "command line of 5002 bytes is too long (at most 4095)")
        kernel.address = 0x8_0000
        kernel.entry = 0x8_0000
        #expect(bootError { try mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }
            == "k: multiboot kernel loads at 0x80000, over the boot data, EBDA or BIOS area (low kernels must lie in 0x1000…0x10000)")
        // Below the boot data is fine (kvm-unit-tests' realmode test loads at 0x8000); modules still go above 1 MiB.
        kernel.address = 0x8000
        kernel.entry = 0x8000
        let low = BootModule(name: "m", bytes: [1, 2, 3])
        let plan = try? mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout(), modules: [low]))
        #expect(plan?.writes.contains(.bytes(at: 0x10_0000, [1, 2, 3])) == true)
        kernel.memorySize = 0x9000  // 0x8000 + 0x9000 runs into the boot data at 0x10000
        #expect(bootError { try mb.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }.contains("over the boot data"))
    }
}

@Suite struct PCBootDataTests {
    /// A library layout smaller than the PC protocols can describe is refused, not a trap.
    @Test func tooLittleRAMIsRefusedByBothProtocols() {
        var multiboot = ELF32Builder()
        multiboot.payload = multibootHeader()
        var pvh = ELF32Builder()
        pvh.notes = ELF32Builder.pvhNote(entry: 0x10_0000)
        var small = layout()
        small.ramSize = 1 << 20
        #expect(bootError { try MultibootBootProtocol().plan(BootRequest(image: multiboot.bytes(), name: "k", layout: small)) }
            == "the multiboot boot protocol needs at least 2 MiB of RAM, not 1 MiB")
        #expect(bootError { try PVHBootProtocol().plan(BootRequest(image: pvh.bytes(), name: "k", layout: small)) }
            == "the pvh boot protocol needs at least 2 MiB of RAM, not 1 MiB")
    }

    @Test func theE820FileHoldsTheMemoryMap() {
        let table = PCBootData.e820Table(ramSize: 64 << 20)
        #expect(table.count == 4 * 20)
        let m = PlannedMemory(BootPlan(protocolName: "t", writes: [.bytes(at: 0, table)], vcpus: []), size: 80)
        let ranges = PCBootData.memoryMap(ramSize: 64 << 20)
        for (index, range) in ranges.enumerated() {
            let at = UInt64(index * 20)
            #expect(m.u64(at) == range.base && m.u64(at + 8) == range.size && m.u32(at + 16) == range.type)
        }
    }

    /// Below 1 MiB of RAM (machines refuse it; a direct caller may not) the map has no RAM above
    /// 1 MiB instead of trapping on a size that would wrap around.
    @Test func aMemoryMapForLessThan1MiBHasNoRangeAbove1MiB() {
        for ram: UInt64 in [0, 4096, 640 << 10, 1 << 20] {
            let ranges = PCBootData.memoryMap(ramSize: ram)
            #expect(ranges.count == 3, "\(ram)")
            #expect(ranges.allSatisfy { $0.base < 1 << 20 }, "\(ram)")
        }
        #expect(PCBootData.memoryMap(ramSize: (1 << 20) + 4096).last?.size == 4096)
    }
}

@Suite struct PVHTests {
    let pvh = PVHBootProtocol()

    @Test func theNoteGivesTheEntryAndTheStartInfoDescribesTheMachine() throws {
        var kernel = ELF32Builder()
        kernel.notes = ELF32Builder.note(owner: "GNU", type: 3, descriptor: [1, 2, 3]) + ELF32Builder.pvhNote(entry: 0x10_0010, size: 8)
        let modules = [BootModule(name: "initrd", bytes: Array("data".utf8))]
        var request = BootRequest(image: kernel.bytes(), name: "vmlinux", layout: layout(ramMiB: 32, vcpus: 2, commandLine: "console=ttyS0"), modules: modules)
        request.rsdpAddress = 0xE_0000
        #expect(pvh.recognizes(request.image) && !MultibootBootProtocol().recognizes(request.image))
        let plan = try pvh.plan(request)
        guard case let .protectedMode(eip, _, ebx) = plan.vcpus[0] else { Issue.record("\(plan.vcpus[0])"); return }
        #expect(eip == 0x10_0010 && plan.vcpus[1] == .waitForSIPI)
        let m = PlannedMemory(plan), info = UInt64(ebx)
        #expect(info % 8 == 0)
        #expect(m.u32(info) == 0x336E_C578 && m.u32(info + 4) == 1 && m.u32(info + 8) == 0)
        #expect(m.u32(info + 12) == 1)
        let list = m.u64(info + 16)
        #expect(m.u64(list) == 0x10_2000 && m.u64(list + 8) == 4 && m.string(m.u64(list + 16)) == "initrd")
        #expect(m.string(m.u64(info + 24)) == "console=ttyS0", "the command line as given, no kernel name")
        #expect(m.u64(info + 32) == 0xE_0000, "rsdp_paddr")
        let map = m.u64(info + 40)
        #expect(m.u32(info + 48) == 4)
        #expect((0..<4).map { [m.u64(map + $0 * 24), m.u64(map + $0 * 24 + 8), UInt64(m.u32(map + $0 * 24 + 16))] }
            == [[0, 0x9_FC00, 1], [0x9_FC00, 0x400, 2], [0xE_0000, 0x2_0000, 2], [0x10_0000, 31 << 20, 1]])
    }

    @Test func badImagesAreRefused() {
        var kernel = ELF32Builder()
        #expect(bootError { try pvh.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }
            == "k: the image does not carry the pvh boot protocol (no XEN_ELFNOTE_PHYS32_ENTRY note)")
        kernel.notes = ELF32Builder.pvhNote(entry: 0x800_0000)
        #expect(bootError { try pvh.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }
            == "k: pvh entry point 0x8000000 is outside 64 MiB of RAM")
        kernel.notes = ELF32Builder.pvhNote(entry: 0x1_0010_0000, size: 8)
        #expect(bootError { try pvh.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }
            == "k: pvh entry point 0x100100000 is above 4 GiB (the entry is 32-bit)")
        kernel.notes = Array(ELF32Builder.pvhNote(entry: 0x10_0000).dropLast(2))
        #expect(bootError { try pvh.plan(BootRequest(image: kernel.bytes(), name: "k", layout: layout())) }
            == "k: the image does not carry the pvh boot protocol (no XEN_ELFNOTE_PHYS32_ENTRY note)", "a cut-off note is no note")
    }
}

@Suite struct BootProtocolChoiceTests {
    @Test func multibootComesFirstThenPVHThenELF64() throws {
        var both = ELF32Builder()
        both.payload = multibootHeader()
        both.notes = ELF32Builder.pvhNote(entry: 0x10_0000)
        #expect(try BootProtocols.choose(for: both.bytes(), name: "k").name == "multiboot", "as QEMU: Multiboot first")
        #expect(try BootProtocols.choose(for: both.bytes(), name: "k", requested: "pvh").name == "pvh")
        var pvhOnly = ELF32Builder()
        pvhOnly.notes = ELF32Builder.pvhNote(entry: 0x10_0000)
        #expect(try BootProtocols.choose(for: pvhOnly.bytes(), name: "k").name == "pvh")
        #expect(try BootProtocols.choose(for: ELFBuilder().bytes(), name: "k").name == "elf64")
        #expect(try BootProtocols.choose(for: ELFBuilder().bytes(), name: "k", requested: "auto").name == "elf64")
        #expect(bootError { try BootProtocols.choose(for: ELFBuilder().bytes(), name: "g", requested: "multiboot") }
            == "g: the image does not carry the multiboot boot protocol (no Multiboot header in the first 8 KiB)")
        #expect(bootError { try BootProtocols.choose(for: pvhOnly.bytes(), name: "g", requested: "elf64") }
            == "g: the image does not carry the elf64 boot protocol (not an ELF64 x86-64 executable)")
        #expect(bootError { try BootProtocols.choose(for: [1, 2, 3], name: "x") }
            == "x: no boot protocol found (no Multiboot header, no PVH note, no Linux setup header, not an ELF64 x86-64 executable)")
        #expect(bootError { try BootProtocols.choose(for: [], name: "x", requested: "bsd") }
            == "unknown boot protocol 'bsd' (expected auto, multiboot, pvh, linux or elf64)")
    }

    /// Random corruptions of good Multiboot, a.out-kludge and PVH images: every protocol either
    /// plans a boot whose writes all lie in RAM and which starts every vCPU, or throws. Never a
    /// trap. Seeds: `VMM_TEST_SEED` replays one.
    @Test(arguments: testSeeds([1, 2, 3, 0xB007, 0x5EED_0001, 0xDEAD_BEEF]))
    func corruptedImagesPlanInsideRAMOrThrow(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var elf = ELF32Builder()
        elf.payload = multibootHeader() + [UInt8](repeating: 0x90, count: 0x40)
        elf.notes = ELF32Builder.pvhNote(entry: 0x10_0000)
        var flat = multibootHeader(flags: 1 << 16 | 3, addresses: [0x10_0000, 0x10_0000, 0, 0x10_2000, 0x10_0020])
        flat += [UInt8](repeating: 0x90, count: 0x100)
        let originals = [elf.bytes(), flat]
        let ram: UInt64 = 8 << 20
        for round in 0..<400 {
            var image = originals[round % 2]
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let at = Int(rng.next() % UInt64(image.count))
                switch rng.next() % 4 {
                case 0: image[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: image[at] ^= 1 << UInt8(rng.next() % 8)
                case 2: image = Array(image.prefix(at))
                default: image[at] = [0x00, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)]
                }
                if image.isEmpty { break }
            }
            let modules = rng.next() % 2 == 0 ? [] : [BootModule(name: "m", bytes: [UInt8](repeating: 1, count: Int(rng.next() % 0x40_0000)))]
            for proto in BootProtocols.all {
                let request = BootRequest(image: image, name: "fuzz", layout: layout(ramMiB: ram >> 20, vcpus: 2), modules: proto.name == "elf64" ? [] : modules)
                guard let plan = try? proto.plan(request) else { continue }
                #expect(throws: Never.self, "seed \(seed) round \(round) \(proto.name): \(replayHint(seed))") {
                    try plan.validate(ramSize: ram, vcpuCount: 2)
                }
            }
        }
    }
}
