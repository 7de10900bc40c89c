@testable import Platform
import Testing
import TestSupport

/// A bzImage as the Linux boot protocol describes it: a boot sector and `setupSectors` sectors of
/// setup code (the setup header at 0x1F1), then `kernel` (the protected-mode kernel).
struct BzImageBuilder {
    var setupSectors: UInt8 = 1
    var version: UInt16 = 0x020F
    var xloadflags: UInt16 = 1
    var code32Start: UInt32 = 0x10_0000
    var initrdAddressMax: UInt32 = 0x7FFF_FFFF
    var relocatable = false
    var preferredAddress: UInt64 = 0x100_0000
    var initSize: UInt32 = 0x2_0000
    var commandLineSize: UInt32 = 2047
    var kernel: [UInt8] = (0..<0x800).map { UInt8(truncatingIfNeeded: $0 * 7) }

    func bytes() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: (Int(setupSectors) + 1) * 512)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[at + i] = x } } }
        b[0x1F1] = setupSectors
        put(UInt16(0xAA55), 0x1FE)
        b[0x200] = 0xEB; b[0x201] = 0x6A  // jmp: the header ends at 0x202 + 0x6A
        put(UInt32(0x5372_6448), 0x202)
        put(version, 0x206)
        b[0x211] = 0x01
        put(code32Start, 0x214)
        put(initrdAddressMax, 0x22C)
        put(UInt32(0x20_0000), 0x230)
        b[0x234] = relocatable ? 1 : 0
        put(xloadflags, 0x236)
        put(commandLineSize, 0x238)
        put(preferredAddress, 0x258)
        put(initSize, 0x260)
        return b + kernel
    }
}

/// A vmlinux: an ELF64 executable at 16 MiB with a "Linux" note (the build salt), and a PVH
/// note when `pvhEntry` is given.
func vmlinux(pvhEntry: UInt64? = nil, notes: [UInt8] = ELF32Builder.note(owner: "Linux", type: 0x100, descriptor: [0, 0, 0, 0])) -> [UInt8] {
    var elf = ELFBuilder()
    elf.entry = 0x100_0000
    var noteBytes = notes
    if let pvhEntry { noteBytes += ELF32Builder.pvhNote(entry: pvhEntry) }
    elf.payload = Array(0..<0x10) + noteBytes
    elf.segments = [ELFBuilder.Segment(offset: 0x1000, address: 0x100_0000, fileSize: 0x10, memorySize: 0x4000),
                    ELFBuilder.Segment(type: 4, offset: 0x1010, address: 0, fileSize: UInt64(noteBytes.count), memorySize: 0)]
    return elf.bytes()
}

@Suite struct LinuxBootProtocolTests {
    let linux = LinuxBootProtocol()

    func plan(_ image: [UInt8], ramMiB: UInt64 = 64, vcpus: Int = 1, commandLine: String = "", initrd: [UInt8]? = nil,
              rsdp: UInt64? = nil) throws -> (BootPlan, PlannedMemory, zeroPage: UInt64, entry: UInt64) {
        var request = BootRequest(image: image, name: "bzImage", layout: layout(ramMiB: ramMiB, vcpus: vcpus, commandLine: commandLine),
                                  modules: initrd.map { [BootModule(name: "initrd", bytes: $0)] } ?? [])
        request.rsdpAddress = rsdp
        let plan = try linux.plan(request)
        guard case let .linux64(rip, bootParams) = plan.vcpus[0] else { throw BootError.noProtocol(image: "\(plan.vcpus[0])") }
        return (plan, PlannedMemory(plan, size: Int(ramMiB << 20)), bootParams, rip)
    }

    @Test func aBzImageGetsItsKernelAt1MiBAndAZeroPageWithTheLoadersFields() throws {
        let image = BzImageBuilder().bytes()
        let initrd = [UInt8](repeating: 0xA5, count: 0x1801)
        let (p, m, zp, entry) = try plan(image, ramMiB: 32, vcpus: 2, commandLine: "console=ttyS0", initrd: initrd, rsdp: 0xE_0000)
        #expect(entry == 0x10_0200, "the 64-bit entry: the kernel's start + 0x200")
        #expect(p.vcpus[1] == .waitForSIPI)
        #expect(zp % 0x1000 == 0 && zp >= 0x1_0000 && zp < 0x9_FC00)
        #expect(Array(m.bytes[0x10_0000..<0x10_0800]) == BzImageBuilder().kernel, "the protected-mode kernel after 2 sectors")
        #expect(Array(m.bytes[Int(zp) + 0x1F1..<Int(zp) + 0x210]) == Array(image[0x1F1..<0x210]), "the image's setup header")
        #expect(m.bytes[Int(zp) + 0x210] == 0xFF, "type_of_loader: undefined loader")
        #expect(m.bytes[Int(zp) + 0x211] & 1 == 1, "LOADED_HIGH")
        #expect(m.string(UInt64(m.u32(zp + 0x228))) == "console=ttyS0")
        let ramdisk = UInt64(m.u32(zp + 0x218))
        #expect(ramdisk == (32 << 20) - 0x2000, "page-aligned at the top of RAM")
        #expect(m.u32(zp + 0x21C) == 0x1801 && Array(m.bytes[Int(ramdisk)..<Int(ramdisk) + 0x1801]) == initrd)
        #expect(m.u32(zp + 0xC0) == 0 && m.u32(zp + 0xC4) == 0, "no high halves below 4 GiB")
        #expect(m.u64(zp + 0x70) == 0xE_0000, "acpi_rsdp_addr")
        #expect(m.bytes[Int(zp) + 0x1E8] == 4)
        let e820 = (0..<4).map { i in [m.u64(zp + 0x2D0 + 20 * UInt64(i)), m.u64(zp + 0x2D8 + 20 * UInt64(i)), UInt64(m.u32(zp + 0x2E0 + 20 * UInt64(i)))] }
        #expect(e820 == [[0, 0x9_FC00, 1], [0x9_FC00, 0x400, 2], [0xE_0000, 0x2_0000, 2], [0x10_0000, 31 << 20, 1]])
        #expect(m.u64(0x1010) == 0x00AF_9A00_0000_FFFF && m.u64(0x1018) == 0x00CF_9200_0000_FFFF, "__BOOT_CS 0x10, __BOOT_DS 0x18")
        try p.validate(ramSize: 32 << 20, vcpuCount: 2)
    }

    @Test func aRelocatableKernelLoadsAtItsPreferredAddressAndTheInitrdStaysBelowItsLimit() throws {
        var builder = BzImageBuilder()
        builder.relocatable = true
        builder.initrdAddressMax = 0x1FF_FFFF  // 32 MiB - 1
        let (_, m, zp, entry) = try plan(builder.bytes(), ramMiB: 64, initrd: [1, 2, 3])
        #expect(entry == 0x100_0200)
        #expect(m.bytes[0x100_0001] == 7)
        #expect(m.u32(zp + 0x218) == 0x1FF_F000, "below initrd_addr_max, not the end of RAM")
    }

    @Test func aVmlinuxEntersAtItsELFEntryWithAHeaderTheLoaderWrote() throws {
        let (_, m, zp, entry) = try plan(vmlinux(), commandLine: "quiet")
        #expect(entry == 0x100_0000)
        #expect(m.bytes[0x100_0005] == 5 && m.bytes[0x100_0010] == 0, "the segment and its zeroed tail")
        #expect(m.u32(zp + 0x202) == 0x5372_6448 && m.u32(zp + 0x1FE) & 0xFFFF == 0xAA55)
        #expect(m.u32(zp + 0x206) & 0xFFFF == 0x020F && m.u32(zp + 0x236) & 0xFFFF == 1)
        #expect(m.string(UInt64(m.u32(zp + 0x228))) == "quiet")
    }

    @Test func autoPicksPVHForAVmlinuxWithThatNoteAndLinuxOtherwise() throws {
        #expect(try BootProtocols.choose(for: BzImageBuilder().bytes(), name: "k").name == "linux")
        #expect(try BootProtocols.choose(for: vmlinux(), name: "k").name == "linux")
        #expect(try BootProtocols.choose(for: vmlinux(pvhEntry: 0x100_0000), name: "k").name == "pvh")
        #expect(try BootProtocols.choose(for: vmlinux(pvhEntry: 0x100_0000), name: "k", requested: "linux").name == "linux")
        #expect(try BootProtocols.choose(for: vmlinux(notes: ELF32Builder.note(owner: "GNU", type: 3, descriptor: [1])), name: "k").name == "elf64",
                "an ELF64 without a Linux note is one of ours")
        #expect(bootError { try BootProtocols.choose(for: ELFBuilder().bytes(), name: "g", requested: "linux") }
            == "g: the image does not carry the linux boot protocol (no bzImage setup header (boot flag 0xAA55 and \"HdrS\" at 0x202) and no ELF note of a vmlinux)")
    }

    @Test func badImagesAndInputsAreRefusedWithTheValueNamed() {
        func error(_ builder: BzImageBuilder, ramMiB: UInt64 = 64, commandLine: String = "", initrds: [[UInt8]] = []) -> String {
            bootError {
                try linux.plan(BootRequest(image: builder.bytes(), name: "bz", layout: layout(ramMiB: ramMiB, commandLine: commandLine),
                                           modules: initrds.enumerated().map { BootModule(name: "i\($0.offset)", bytes: $0.element) }))
            }
        }
        var old = BzImageBuilder(); old.version = 0x0206
        #expect(error(old) == "bz: Linux boot protocol 2.06 is too old (at least 2.12, for the 64-bit entry)")
        var no64 = BzImageBuilder(); no64.xloadflags = 0
        #expect(error(no64) == "bz: the bzImage has no 64-bit entry (XLF_KERNEL_64 is clear in xloadflags)")
        var empty = BzImageBuilder(); empty.kernel = []
        #expect(error(empty) == "bz: truncated Linux image: its setup code needs 1025 bytes, the file has 1024")
        #expect(bootError { try linux.plan(BootRequest(image: Array(BzImageBuilder().bytes().prefix(0x250)), name: "bz", layout: layout())) }
            == "bz: the image does not carry the linux boot protocol (no bzImage setup header (boot flag 0xAA55 and \"HdrS\" at 0x202) and no ELF note of a vmlinux)",
            "a header cut off before its fields is no header")
        var huge = BzImageBuilder(); huge.initSize = 0x400_0000
        #expect(error(huge) == "bz: the linux kernel at 0x100000 needs RAM up to 0x4100000, RAM is 64 MiB")
        var low = BzImageBuilder(); low.code32Start = 0x8000
        #expect(error(low) == "bz: linux kernel loads at 0x8000, over the boot data, EBDA or BIOS area (low kernels must lie in 0x1000…0x10000)")
        #expect(error(BzImageBuilder(), commandLine: String(repeating: "x", count: 2048)) == "command line of 2048 bytes is too long (at most 2047)")
        #expect(error(BzImageBuilder(), initrds: [[1], [2]]) == "the linux boot protocol takes one initrd, not 2")
        #expect(error(BzImageBuilder(), ramMiB: 4, initrds: [[UInt8](repeating: 0, count: 3 << 20)])
            == "initrd i0 (3 MiB) does not fit between the kernel's end 0x120000 and 0x400000")
    }

    /// Random corruptions of a good bzImage and vmlinux: the plan stays inside RAM and starts
    /// every vCPU, or the loader throws. Seeds: `VMM_TEST_SEED` replays one.
    @Test(arguments: testSeeds([1, 2, 3, 0x11_1A0C, 0xB2_1A6E]))
    func corruptedImagesPlanInsideRAMOrThrow(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let originals = [BzImageBuilder().bytes(), vmlinux(), { var b = BzImageBuilder(); b.relocatable = true; return b.bytes() }()]
        let ram: UInt64 = 32 << 20
        for round in 0..<600 {
            var image = originals[round % originals.count]
            for _ in 0..<(1 + Int(rng.next() % 6)) {
                // Most changes land in the setup header, where the loader reads.
                let at = rng.next() % 2 == 0 ? 0x1F1 + Int(rng.next() % 0x80) : Int(rng.next() % UInt64(image.count))
                guard at < image.count else { continue }
                switch rng.next() % 4 {
                case 0: image[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: image[at] ^= 1 << UInt8(rng.next() % 8)
                case 2: image = Array(image.prefix(at))
                default: image[at] = [0x00, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)]
                }
            }
            let initrd = rng.next() % 2 == 0 ? [] : [BootModule(name: "i", bytes: [UInt8](repeating: 1, count: Int(rng.next() % 0x200_0000)))]
            let request = BootRequest(image: image, name: "fuzz", layout: layout(ramMiB: ram >> 20, vcpus: 2,
                                      commandLine: String(repeating: "c", count: Int(rng.next() % 3000))), modules: initrd)
            guard let plan = try? linux.plan(request) else { continue }
            #expect(throws: Never.self, "seed \(seed) round \(round): \(replayHint(seed))") { try plan.validate(ramSize: ram, vcpuCount: 2) }
        }
    }
}

@Suite struct BootImageTests {
    /// The file `vmm run --dump-boot` writes, read back as Scripts/bench/linux-loop.c reads it.
    @Test func aPlanReadsBackAsItsStartAndItsWrites() throws {
        let plan = BootPlan(protocolName: "linux", writes: [.bytes(at: 0x1000, [1, 2, 3]), .zero(at: 0x2000, count: 0x40)],
                            vcpus: [.linux64(rip: 0x100_0000, bootParams: 0x1_0000), .waitForSIPI])
        let b = plan.image(ramSize: 128 << 20)
        func u64(_ o: Int) -> UInt64 { littleEndian(b, at: o) }
        #expect(Array(b[0..<8]) == Array("VMMBOOT1".utf8))
        #expect(u64(8) == 128 << 20 && u64(16) == 3 | 2 << 32, "Linux's entry, two vCPUs")
        #expect([u64(24), u64(32), u64(40), u64(48)] == [0x100_0000, LinuxBootProtocol.stackTop, 0, 0x1_0000])
        #expect(u64(56) == 0x1000 && u64(64) == 3 && Array(b[72..<75]) == [1, 2, 3])
        #expect(u64(75) == 0x2000 && u64(83) == 0x40 | 1 << 63 && b.count == 91)
    }
}

@Suite struct MPTableTests {
    @Test func theFloatingPointerFindsAChecksummedTableWithEveryProcessorAndTheISAIRQs() {
        let table = MPTable(apicIDs: [0, 1, 300, 7])
        let b = table.bytes
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
        #expect(Array(b[0..<4]) == Array("_MP_".utf8) && b[8] == 1 && b[9] == 4)
        #expect(b[0..<16].reduce(0, &+) == 0, "the pointer's checksum")
        #expect(UInt64(u32(4)) == MPTable.base + 16)
        let t = 16
        #expect(Array(b[t..<t + 4]) == Array("PCMP".utf8))
        #expect(t + u16(t + 4) == b.count && b[t..<b.count].reduce(0, &+) == 0, "the table's length and checksum")
        #expect(u32(t + 36) == 0xFEE0_0000)
        #expect(table.processorCount == 3, "APIC ID 300 has no 8-bit field")
        #expect(u16(t + 34) == 3 + 2 + 15 + 2)
        var at = t + 44
        var processors: [[UInt8]] = [], assignments: [[UInt8]] = [], locals: [[UInt8]] = []
        while at < b.count {
            switch b[at] {
            case 0: processors.append([b[at + 1], b[at + 3]]); at += 20
            case 3: assignments.append([b[at + 5], b[at + 7]]); at += 8
            case 4: locals.append([b[at + 1], b[at + 7]]); at += 8
            default: at += 8
            }
        }
        #expect(processors == [[0, 3], [1, 1], [7, 1]], "IDs, and only the first is the bootstrap processor")
        #expect(assignments.first == [0, 2], "ISA IRQ 0 on INTIN 2")
        #expect(assignments.count == 15 && !assignments.contains { $0[0] == 2 } && assignments.dropFirst().allSatisfy { $0[0] == $0[1] })
        #expect(locals == [[3, 0], [1, 1]], "ExtINT on LINT0, NMI on LINT1")
        #expect(b.count <= MPTable.capacity)
    }

    /// A split irqchip has no 8259s: no ExtINT entry, and the count and checksum still agree.
    @Test func withoutThe8259sThereIsNoExtINT() {
        let b = MPTable(apicIDs: [0, 1], has8259s: false).bytes
        let t = 16
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        #expect(u16(t + 34) == 2 + 2 + 15 + 1 && t + u16(t + 4) == b.count && b[t..<b.count].reduce(0, &+) == 0)
        var at = t + 44, locals: [UInt8] = []
        while at < b.count {
            if b[at] == 4 { locals.append(b[at + 1]) }
            at += b[at] == 0 ? 20 : 8
        }
        #expect(locals == [1], "NMI on LINT1 only")
    }

    @Test func manyProcessorsStillFitInTheEBDAsFirstKiB() {
        let table = MPTable(apicIDs: (0..<200).map(UInt32.init))
        #expect(table.bytes.count <= MPTable.capacity && table.processorCount == 40)
    }
}
