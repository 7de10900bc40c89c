import PCI
import Threads

/// A virtio vendor-specific capability (ID 0x09) whose bytes never change: cap_len, cfg_type,
/// bar, id, offset, length (and notify_off_multiplier for the notify structure).
final class VirtioStructureCapability: PCICapabilityHandler {
    let bytes: [UInt8]

    init(type: VirtioCapabilityType, bar: UInt8, offset: UInt32, length: UInt32, multiplier: UInt32? = nil) {
        var b: [UInt8] = [0x09, 0, multiplier == nil ? 16 : 20, type.rawValue, bar, 0, 0, 0]
        b += le32(offset) + le32(length)
        if let multiplier { b += le32(multiplier) }
        bytes = b
    }

    var length: Int { bytes.count }

    func capabilityRead(offset: Int, size: Int) -> UInt32 {
        (0..<size).reduce(0) { value, i in
            let at = offset + i
            return value | UInt32(at < bytes.count ? bytes[at] : 0) << (8 * UInt32(i))
        }
    }

    func capabilityWrite(offset: Int, size: Int, value: UInt32) {}
}

/// VIRTIO_PCI_CAP_PCI_CFG: a window through config space into the BARs. The driver writes bar,
/// offset and length (1, 2 or 4), then reads or writes pci_cfg_data, which accesses that BAR
/// at that offset. A window outside the BAR, or of another length, reads 0 and writes nothing.
final class VirtioConfigWindowCapability: PCICapabilityHandler {
    struct Window { var bar: UInt8 = 0, offset: UInt32 = 0, length: UInt32 = 0 }
    private let window = Locked(Window())
    private let read: @Sendable (Int, UInt64, Int) -> UInt64
    private let write: @Sendable (Int, UInt64, Int, UInt64) -> Void
    private let barSize: @Sendable (Int) -> UInt64

    static let length = 20
    static let dataOffset = 16

    init(barSize: @escaping @Sendable (Int) -> UInt64, read: @escaping @Sendable (Int, UInt64, Int) -> UInt64,
         write: @escaping @Sendable (Int, UInt64, Int, UInt64) -> Void) {
        self.barSize = barSize
        self.read = read
        self.write = write
    }

    /// The window's BAR, offset and size when the access through it is allowed.
    private func target() -> (bar: Int, offset: UInt64, size: Int)? {
        let w = window.withLock { $0 }
        guard w.bar < 6, [1, 2, 4].contains(w.length) else { return nil }
        let (end, overflow) = UInt64(w.offset).addingReportingOverflow(UInt64(w.length))
        guard !overflow, end <= barSize(Int(w.bar)), w.offset % w.length == 0 else { return nil }
        return (Int(w.bar), UInt64(w.offset), Int(w.length))
    }

    func capabilityRead(offset: Int, size: Int) -> UInt32 {
        let w = window.withLock { $0 }
        var bytes: [UInt8] = [0x09, 0, UInt8(Self.length), VirtioCapabilityType.pciConfig.rawValue, w.bar, 0, 0, 0]
        bytes += le32(w.offset) + le32(w.length)
        if offset >= Self.dataOffset {
            guard let t = target() else { return 0 }
            let value = read(t.bar, t.offset, t.size)
            return UInt32(truncatingIfNeeded: value >> (8 * UInt64(offset - Self.dataOffset)))
        }
        return (0..<size).reduce(0) { v, i in v | UInt32(offset + i < bytes.count ? bytes[offset + i] : 0) << (8 * UInt32(i)) }
    }

    func capabilityWrite(offset: Int, size: Int, value: UInt32) {
        switch offset {
        case 4: if size == 1 || size == 4 { window.withLock { $0.bar = UInt8(truncatingIfNeeded: value) } }
        case 8: if size == 4 { window.withLock { $0.offset = value } }
        case 12: if size == 4 { window.withLock { $0.length = value } }
        case Self.dataOffset:
            guard let t = target() else { return }
            write(t.bar, t.offset, t.size, UInt64(value) & (t.size == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt64(t.size))) - 1))
        default: break
        }
    }
}

func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
