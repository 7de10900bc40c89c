#if canImport(Glibc)
import Glibc
#endif
import CKVM
import TextFormat

/// Guest RAM: one anonymous host mapping that backs guest-physical [0, size).
///
/// Every access by guest-physical address is bounds-checked with overflow-safe arithmetic and
/// throws `GuestMemoryError` when it leaves RAM.
///
/// Sendable: the mapping is made once and never moves or shrinks while the object lives. Its bytes
/// are shared with the guest's vCPUs, which change them whenever they like, like any RAM; the VMM
/// writes them only while loading (before vCPUs run) and reads them through bounds-checked copies.
public final class GuestMemory: Sendable {
    /// Bytes of RAM.
    public let size: UInt64
    /// Host address of guest-physical 0. Valid until this object is gone.
    public nonisolated(unsafe) let hostBase: UnsafeMutableRawPointer

    /// Maps `size` bytes (a positive multiple of 4 KiB) of zeroed anonymous memory.
    public init(size: UInt64) throws {
        guard size > 0, size % 4096 == 0, size <= UInt64(Int.max) else { throw GuestMemoryError.badSize(size) }
        var error: Int32 = 0
        guard let base = ckvm_mmap(-1, Int(size), &error) else { throw GuestMemoryError.mapFailed(size: size, errno: error) }
        self.size = size
        hostBase = base
    }

    deinit {
        _ = ckvm_munmap(hostBase, Int(size))
    }

    /// True when [address, address + count) lies inside RAM.
    public func contains(_ address: UInt64, count: UInt64) -> Bool {
        let (end, overflow) = address.addingReportingOverflow(count)
        return !overflow && end <= size
    }

    /// A host pointer to `count` bytes at guest-physical `address`, after a bounds check.
    public func pointer(at address: UInt64, count: UInt64) throws -> UnsafeMutableRawPointer {
        guard contains(address, count: count) else { throw GuestMemoryError.outOfBounds(address: address, count: count, ramSize: size) }
        // In bounds: checked just above against the mapping's size.
        return hostBase.advanced(by: Int(address))
    }

    /// Copies `bytes` to guest-physical `address`.
    public func write(_ bytes: some Collection<UInt8>, at address: UInt64) throws {
        let destination = try pointer(at: address, count: UInt64(bytes.count))
        // One copy for contiguous storage (arrays and their slices). Iterating a generic
        // collection here, across the module boundary, is unspecialised: it allocated once
        // per byte, about 50,000 times for loading a small guest.
        let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
            // In bounds: `pointer(at:count:)` checked bytes.count bytes at `address`.
            if let base = source.baseAddress { destination.copyMemory(from: base, byteCount: source.count) }
        }
        guard copied == nil else { return }
        var offset = 0
        for byte in bytes {
            destination.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
    }

    /// Copies `count` bytes from guest-physical `address`.
    public func read(at address: UInt64, count: Int) throws -> [UInt8] {
        let source = try pointer(at: address, count: UInt64(max(0, count)))
        return Array(UnsafeRawBufferPointer(start: source, count: max(0, count)))
    }

    /// Stores a little-endian integer at `address`.
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws {
        try pointer(at: address, count: UInt64(MemoryLayout<T>.size)).storeBytes(of: value.littleEndian, as: T.self)
    }

    /// Loads a little-endian integer from `address`.
    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) throws -> T {
        T(littleEndian: try pointer(at: address, count: UInt64(MemoryLayout<T>.size)).loadUnaligned(as: T.self))
    }

    /// Makes KVM drop its mapping of the 4 KiB page at `address` (the page keeps its contents):
    /// protecting the host page and unprotecting it again fires the MMU notifier, so the guest's
    /// next access faults the page in anew. QEMU's pc-testdev does the same.
    public func remapPage(at address: UInt64) throws {
        let page = address & ~0xFFF
        let base = try pointer(at: page, count: 4096)
        guard mprotect(base, 4096, PROT_NONE) == 0, mprotect(base, 4096, PROT_READ | PROT_WRITE) == 0 else {
            throw GuestMemoryError.remapFailed(address: page, errno: errno)
        }
    }

    /// Zeroes [address, address + count).
    ///
    /// Whole 4 KiB pages in the range are given back to the host (`MADV_DONTNEED` on this
    /// private anonymous mapping, after which they read as zeros) rather than written: zeroing
    /// a large area that was never touched then costs no page faults and no resident memory.
    /// The partial pages at either end are written.
    public func zero(at address: UInt64, count: UInt64) throws {
        let start = try pointer(at: address, count: count)
        let firstPage = (address + 0xFFF) & ~0xFFF
        let endPage = (address + count) & ~0xFFF
        guard endPage > firstPage else {
            start.initializeMemory(as: UInt8.self, repeating: 0, count: Int(count))
            return
        }
        // In bounds: [address, address + count) was checked above and the pages lie inside it.
        hostBase.advanced(by: Int(address)).initializeMemory(as: UInt8.self, repeating: 0, count: Int(firstPage - address))
        hostBase.advanced(by: Int(endPage)).initializeMemory(as: UInt8.self, repeating: 0, count: Int(address + count - endPage))
        let pages = hostBase.advanced(by: Int(firstPage))
        if madvise(pages, Int(endPage - firstPage), MADV_DONTNEED) != 0 {
            pages.initializeMemory(as: UInt8.self, repeating: 0, count: Int(endPage - firstPage))
        }
    }
}

/// Failures of guest memory, naming the address and size.
public enum GuestMemoryError: Error, Equatable, CustomStringConvertible {
    /// `init(size:)` was given a size in bytes that is zero, not a multiple of 4 KiB, or above
    /// `Int.max`.
    case badSize(UInt64)
    /// The host refused the anonymous mapping of `size` bytes; `errno` is `mmap`'s error number.
    case mapFailed(size: UInt64, errno: Int32)
    /// An access of `count` bytes at guest-physical `address` does not lie inside
    /// [0, `ramSize`), or its end overflows 64 bits.
    case outOfBounds(address: UInt64, count: UInt64, ramSize: UInt64)
    /// `remapPage(at:)` could not change the protection of the page at `address` (the page's
    /// start); `errno` is `mprotect`'s error number.
    case remapFailed(address: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case let .badSize(size):
            "guest memory size \(size) bytes is not a positive multiple of 4 KiB"
        case let .mapFailed(size, errno):
            "cannot map \(size >> 20) MiB of guest memory: \(String(cString: ckvm_errno_name(errno)))"
        case let .remapFailed(address, errno):
            "cannot remap the guest page at \(hex(address)): \(String(cString: ckvm_errno_name(errno)))"
        case let .outOfBounds(address, count, ramSize):
            "guest access of \(count) bytes at \(hex(address)) is outside RAM (0x0…\(hex(ramSize)))"
        }
    }
}
