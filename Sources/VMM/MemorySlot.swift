import KVM
import Memory
import TextFormat

/// A range of guest-physical memory beyond RAM at 0 that a configuration asks for
/// (`MachineConfiguration.extraMemory`): more RAM, or a ROM the guest can read but not change.
public struct MemoryRegion: Sendable, Equatable {
    /// What backs the region.
    public enum Kind: Sendable, Equatable {
        /// Zeroed, read-write memory.
        case ram
        /// Read-only memory holding `contents` (zero-filled to the region's size); guest writes
        /// exit as MMIO and reach the MMIO bus (where nothing claims them).
        case rom(contents: [UInt8])
    }

    /// The region's name, in errors and as its `MemorySlot`'s name.
    public var name: String
    /// Guest-physical address of the first byte; 4 KiB-aligned.
    public var base: UInt64
    /// A positive multiple of 4 KiB.
    public var size: UInt64
    /// RAM or ROM (default RAM).
    public var kind: Kind
    /// KVM records the pages the guest writes (`MemorySlot.dirtyPages`).
    public var logDirtyPages: Bool

    /// A region of `size` bytes at `base`, by default RAM without dirty logging.
    public init(name: String, base: UInt64, size: UInt64, kind: Kind = .ram, logDirtyPages: Bool = false) {
        self.name = name
        self.base = base
        self.size = size
        self.kind = kind
        self.logDirtyPages = logDirtyPages
    }
}

/// Guest-physical memory backed by one host mapping, as one KVM memory slot.
public final class MemorySlot: Sendable {
    /// The slot's name ("RAM" for slot 0, the region's name for the others).
    public let name: String
    /// The KVM slot number (RAM at 0 is slot 0).
    public let slot: UInt32
    /// Guest-physical address of the first byte.
    public let guestBase: UInt64
    /// The host mapping; its address 0 is `guestBase` in the guest.
    public let memory: GuestMemory
    /// True for a ROM: KVM maps it read-only and guest writes exit as MMIO.
    public let readOnly: Bool
    /// True when KVM logs the pages the guest writes, so `dirtyPages()` may be called.
    public let logsDirtyPages: Bool
    private let vm: KVMVirtualMachine

    init(name: String, slot: UInt32, guestBase: UInt64, memory: GuestMemory, readOnly: Bool, logsDirtyPages: Bool,
         vm: KVMVirtualMachine) throws {
        self.name = name
        self.slot = slot
        self.guestBase = guestBase
        self.memory = memory
        self.readOnly = readOnly
        self.logsDirtyPages = logsDirtyPages
        self.vm = vm
        var flags: KVMVirtualMachine.MemoryFlags = []
        if readOnly { flags.insert(.readOnly) }
        if logsDirtyPages { flags.insert(.logDirtyPages) }
        try vm.setUserMemoryRegion(slot: slot, guestAddress: guestBase, size: memory.size, host: memory.hostBase, flags: flags)
    }

    /// Guest-physical addresses of the 4 KiB pages written since the last call (or since the
    /// slot was made), in order; reading clears KVM's record. Throws `VMMError.layout` when the
    /// slot does not log dirty pages.
    public func dirtyPages() throws -> [UInt64] {
        guard logsDirtyPages else { throw VMMError.layout("memory \(name) at \(hex(guestBase)) does not log dirty pages") }
        let pages = Int(memory.size / 4096)
        let bitmap = try vm.dirtyLog(slot: slot, pages: pages)
        var addresses: [UInt64] = []
        for (index, word) in bitmap.enumerated() where word != 0 {
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 && index * 64 + bit < pages {
                addresses.append(guestBase + UInt64(index * 64 + bit) * 4096)
            }
        }
        return addresses
    }
}
