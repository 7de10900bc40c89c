import Memory
import TextFormat

/// An x86 ELF executable (ELF64 x86-64, or ELF32 i386 where the caller accepts it), validated
/// and ready to copy into guest RAM.
///
/// Only what the boot protocols need is read: the entry point, the PT_LOAD segments, each placed
/// at its physical address (`p_paddr`), and the notes of PT_NOTE segments (PVH finds its entry
/// there). Every offset and size is checked against the file before it is used.
public struct ELFImage: Sendable {
    /// One PT_LOAD segment: `fileSize` bytes from `fileOffset` copied to `address`, then zeroes up to `memorySize`.
    public struct Segment: Sendable, Equatable {
        /// Guest-physical address the segment loads to (`p_paddr`).
        public let address: UInt64
        /// Byte offset of the segment's data in the file (`p_offset`).
        public let fileOffset: Int
        /// Bytes copied from the file (`p_filesz`), at most `memorySize`.
        public let fileSize: Int
        /// Bytes the segment takes in memory (`p_memsz`), the zeroed tail included.
        public let memorySize: UInt64
        /// One past the segment's last byte in memory, `address + memorySize` (never wraps: the
        /// image refuses a segment that would).
        public var end: UInt64 { address + memorySize }
    }

    /// One ELF note: its owner's name (without the NUL), type and descriptor bytes.
    public struct Note: Sendable, Equatable {
        /// The owner's name, e.g. "Xen", without its NUL.
        public let name: String
        /// The note's type, whose meaning depends on the owner (18 is Xen's PHYS32_ENTRY).
        public let type: UInt32
        /// The descriptor's bytes, without padding.
        public let descriptor: [UInt8]
    }

    /// Which ELF classes an image may have.
    public enum Classes: Sendable {
        /// ELF64 x86-64 only (this project's own protocol).
        case elf64
        /// ELF32 i386 or ELF64 x86-64 (Multiboot and PVH kernels).
        case elf32OrElf64
    }

    /// The entry point (`e_entry`), taken as a guest-physical address; it lies inside a segment.
    public let entry: UInt64
    /// The PT_LOAD segments in program-header order: at least one, none overlapping another.
    public let segments: [Segment]
    /// The notes of every PT_NOTE segment, in file order (empty when there are none).
    public let notes: [Note]
    /// 32 or 64.
    public let bits: Int
    let bytes: [UInt8]

    /// The lowest segment address and the end of the highest segment.
    public var extent: (low: UInt64, high: UInt64) {
        (segments.map(\.address).min() ?? 0, segments.map(\.end).max() ?? 0)
    }

    /// Parses and validates `bytes`; `name` is used in error messages.
    public init(bytes: [UInt8], name: String = "guest", accepting classes: Classes = .elf64) throws(ELFError) {
        func u16(_ o: Int) -> UInt16 { UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * UInt32($1)) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }

        guard bytes.count >= 16 else { throw .truncated(name, what: "ELF header", need: 64, have: bytes.count) }
        guard bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else { throw .notELF(name) }
        let is64: Bool
        switch (bytes[4], classes) {
        case (2, _): is64 = true
        case (1, .elf32OrElf64): is64 = false
        case (_, .elf64): throw .unsupported(name, field: "class", value: UInt64(bytes[4]), expected: "2 (ELF64)")
        case (_, .elf32OrElf64): throw .unsupported(name, field: "class", value: UInt64(bytes[4]), expected: "1 (ELF32) or 2 (ELF64)")
        }
        let headerSize = is64 ? 64 : 52
        guard bytes.count >= headerSize else { throw .truncated(name, what: "ELF header", need: headerSize, have: bytes.count) }
        guard bytes[5] == 1 else { throw .unsupported(name, field: "data encoding", value: UInt64(bytes[5]), expected: "1 (little-endian)") }
        guard u16(16) == 2 else { throw .unsupported(name, field: "e_type", value: UInt64(u16(16)), expected: "2 (ET_EXEC)") }
        let machine = is64 ? 62 : 3
        guard u16(18) == UInt16(machine) else {
            throw .unsupported(name, field: "e_machine", value: UInt64(u16(18)), expected: is64 ? "62 (x86-64)" : "3 (i386)")
        }

        let phoff = is64 ? u64(32) : UInt64(u32(28))
        let phentsize = Int(u16(is64 ? 54 : 42)), phnum = Int(u16(is64 ? 56 : 44))
        let minimumEntry = is64 ? 56 : 32
        guard phentsize >= minimumEntry || phnum == 0 else {
            throw .unsupported(name, field: "e_phentsize", value: UInt64(phentsize), expected: "at least \(minimumEntry)")
        }
        let tableSize = UInt64(phentsize * phnum)
        guard phoff <= UInt64(bytes.count), tableSize <= UInt64(bytes.count) - phoff else {
            throw .truncated(name, what: "program header table (\(phnum) entries at offset \(phoff))",
                             need: Int(clamping: phoff &+ tableSize), have: bytes.count)
        }

        var segments: [Segment] = []
        var notes: [Note] = []
        for index in 0..<phnum {
            let h = Int(phoff) + index * phentsize
            let type = u32(h)
            guard type == 1 || type == 4 else { continue }  // PT_LOAD and PT_NOTE only
            let offset = is64 ? u64(h + 8) : UInt64(u32(h + 4)), paddr = is64 ? u64(h + 24) : UInt64(u32(h + 12))
            let fileSize = is64 ? u64(h + 32) : UInt64(u32(h + 16)), memorySize = is64 ? u64(h + 40) : UInt64(u32(h + 20))
            guard offset <= UInt64(bytes.count), fileSize <= UInt64(bytes.count) - offset else {
                throw .segmentOutsideFile(name, index: index, offset: offset, size: fileSize, fileSize: bytes.count)
            }
            if type == 4 {
                notes += Self.notes(in: bytes[Int(offset)..<Int(offset + fileSize)])
                continue
            }
            guard fileSize <= memorySize else { throw .segmentFileLargerThanMemory(name, index: index, fileSize: fileSize, memorySize: memorySize) }
            guard paddr.addingReportingOverflow(memorySize).overflow == false else {
                throw .segmentWraps(name, index: index, address: paddr, size: memorySize)
            }
            let segment = Segment(address: paddr, fileOffset: Int(offset), fileSize: Int(fileSize), memorySize: memorySize)
            if let other = segments.first(where: { $0.address < segment.end && segment.address < $0.end }) {
                throw .segmentsOverlap(name, first: other.address, second: segment.address)
            }
            segments.append(segment)
        }
        guard !segments.isEmpty else { throw .noLoadableSegments(name) }
        let entry = is64 ? u64(24) : UInt64(u32(24))
        guard segments.contains(where: { $0.address <= entry && entry < $0.end }) else { throw .entryOutsideSegments(name, entry: entry) }
        self.entry = entry
        self.segments = segments
        self.notes = notes
        self.bits = is64 ? 64 : 32
        self.bytes = bytes
    }

    /// The notes of one PT_NOTE segment: name size, descriptor size, type, then the name and
    /// the descriptor, each padded to 4 bytes. Reading stops at a note that runs past the
    /// segment: notes are optional, and the protocols that need one say so when it is missing.
    private static func notes(in data: ArraySlice<UInt8>) -> [Note] {
        var notes: [Note] = []
        var at = data.startIndex
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(data[o + $1]) << (8 * UInt32($1)) } }
        func padded(_ n: UInt32) -> Int { (Int(n) + 3) & ~3 }
        while data.endIndex - at >= 12 {
            let nameSize = u32(at), descriptorSize = u32(at + 4), type = u32(at + 8)
            let body = at + 12
            guard nameSize <= 0x1_0000, descriptorSize <= 0x10_0000,
                  data.endIndex - body >= padded(nameSize) + Int(descriptorSize) else { break }
            let owner = data[body..<(body + Int(nameSize))].prefix { $0 != 0 }
            let descriptorStart = body + padded(nameSize)
            notes.append(Note(name: String(decoding: owner, as: UTF8.self), type: type,
                              descriptor: Array(data[descriptorStart..<(descriptorStart + Int(descriptorSize))])))
            at = min(data.endIndex, descriptorStart + padded(descriptorSize))
        }
        return notes
    }

    /// Checks that every segment fits in `ramSize` bytes of RAM above `reservedEnd` and returns
    /// the writes that load them: each segment's file bytes, then its zeroed tail.
    public func writes(ramSize: UInt64, reservedEnd: UInt64 = BootLayout.guestLoadBase, name: String = "guest") throws(ELFError) -> [BootPlan.Write] {
        var writes: [BootPlan.Write] = []
        for segment in segments {
            guard segment.address >= reservedEnd else {
                throw .overlapsReserved(name, address: segment.address, size: segment.memorySize, reservedEnd: reservedEnd)
            }
            guard segment.end <= ramSize else {
                throw .doesNotFit(name, address: segment.address, size: segment.memorySize, ramSize: ramSize)
            }
            writes.append(.bytes(at: segment.address, Array(bytes[segment.fileOffset..<(segment.fileOffset + segment.fileSize)])))
            let tail = segment.memorySize - UInt64(segment.fileSize)
            if tail > 0 { writes.append(.zero(at: segment.address + UInt64(segment.fileSize), count: tail)) }
        }
        return writes
    }

    /// Checks that every segment fits in `memory` above `reservedEnd`, then copies the segments
    /// into it and zeroes their tails.
    public func load(into memory: GuestMemory, reservedEnd: UInt64 = BootLayout.guestLoadBase, name: String = "guest") throws {
        for write in try writes(ramSize: memory.size, reservedEnd: reservedEnd, name: name) { try memory.apply(write) }
    }
}

/// Why a guest ELF was refused; each message names the file and the offending value.
public enum ELFError: Error, Equatable, CustomStringConvertible {
    /// The device tree does not fit the area the boot protocol reserves for it.
    case deviceTreeTooLarge(size: Int, maximum: UInt64)
    /// The file (named by the first value) is too short for `what` (the ELF header or the program
    /// header table), which needs `need` bytes; the file has `have`.
    case truncated(String, what: String, need: Int, have: Int)
    /// The file (named by the value) does not start with the ELF magic `\x7FELF`.
    case notELF(String)
    /// A header `field` (class, data encoding, `e_type`, `e_machine`, `e_phentsize`) holds
    /// `value`, which this loader does not take; `expected` says what it takes.
    case unsupported(String, field: String, value: UInt64, expected: String)
    /// The file range of program header `index`, `size` bytes at file `offset`, runs past the
    /// end of the `fileSize`-byte file.
    case segmentOutsideFile(String, index: Int, offset: UInt64, size: UInt64, fileSize: Int)
    /// The PT_LOAD entry `index` of the program header table has a `fileSize` (`p_filesz`)
    /// larger than its `memorySize` (`p_memsz`).
    case segmentFileLargerThanMemory(String, index: Int, fileSize: UInt64, memorySize: UInt64)
    /// The PT_LOAD entry `index` of the program header table, `size` bytes at `address`, runs
    /// past the end of the 64-bit address space.
    case segmentWraps(String, index: Int, address: UInt64, size: UInt64)
    /// Two PT_LOAD segments overlap in memory: the earlier one starts at `first`, the later at
    /// `second`.
    case segmentsOverlap(String, first: UInt64, second: UInt64)
    /// The file (named by the value) has no PT_LOAD segment.
    case noLoadableSegments(String)
    /// The `entry` point lies in none of the PT_LOAD segments.
    case entryOutsideSegments(String, entry: UInt64)
    /// A segment of `size` bytes at `address` starts below `reservedEnd`, the lowest address the
    /// protocol lets a kernel use (1 MiB for ELF64, 0x1000 for Multiboot and PVH).
    case overlapsReserved(String, address: UInt64, size: UInt64, reservedEnd: UInt64)
    /// A segment (or a Multiboot flat kernel) of `size` bytes at `address` ends past `ramSize`
    /// bytes of RAM.
    case doesNotFit(String, address: UInt64, size: UInt64, ramSize: UInt64)

    public var description: String {
        switch self {
        case let .deviceTreeTooLarge(size, maximum):
            return "device tree of \(size) bytes exceeds the \(maximum)-byte area"
        case let .truncated(n, what, need, have): return "\(n): truncated ELF: the \(what) needs \(need) bytes, the file has \(have)"
        case let .notELF(n): return "\(n): not an ELF file (bad magic)"
        case let .unsupported(n, field, value, expected): return "\(n): unsupported ELF \(field) \(value), expected \(expected)"
        case let .segmentOutsideFile(n, i, offset, size, fileSize):
            return "\(n): segment \(i) (\(size) bytes at file offset \(offset)) lies outside the \(fileSize)-byte file"
        case let .segmentFileLargerThanMemory(n, i, f, m): return "\(n): segment \(i) has p_filesz \(f) larger than p_memsz \(m)"
        case let .segmentWraps(n, i, a, s): return "\(n): segment \(i) at \(hex(a)) with size \(hex(s)) wraps past the address space"
        case let .segmentsOverlap(n, a, b): return "\(n): segments at \(hex(a)) and \(hex(b)) overlap"
        case let .noLoadableSegments(n): return "\(n): no PT_LOAD segment"
        case let .entryOutsideSegments(n, e): return "\(n): entry point \(hex(e)) is not inside a loaded segment"
        case let .overlapsReserved(n, a, s, r):
            return "\(n): segment at \(hex(a)) (\(s) bytes) overlaps the VMM's reserved memory below \(hex(r))"
        case let .doesNotFit(n, a, s, ram):
            return "\(n): segment at \(hex(a)) (\(s) bytes) does not fit in \(ram >> 20) MiB of guest RAM"
        }
    }
}
