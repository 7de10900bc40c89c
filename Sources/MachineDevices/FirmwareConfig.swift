import Devices
import Threads

/// QEMU's firmware configuration device (fw_cfg), its traditional I/O interface: a 16-bit
/// selector written at the base port (0x510 on a PC) picks an item, and each read of the data
/// port (base + 1) returns its next byte; past the end, and for an item that does not exist,
/// reads return 0. Writes to the data port are ignored. There is no DMA interface (the ID item
/// says so), and the items cannot be written by the guest.
///
/// Items: the signature "QEMU", the ID (1: traditional interface), the RAM size, the CPU counts,
/// and the file directory with the files given (name → bytes), each at selector 0x20 + its index.
public final class FirmwareConfig: BusDevice {
    /// Selector keys of the items this device has.
    public enum Key {
        /// FW_CFG_SIGNATURE: the 4 bytes "QEMU".
        public static let signature: UInt16 = 0x00
        /// FW_CFG_ID: a 32-bit feature bitmap, 1 (the traditional interface, no DMA).
        public static let id: UInt16 = 0x01
        /// FW_CFG_RAM_SIZE: bytes of RAM, 64-bit little-endian.
        public static let ramSize: UInt16 = 0x03
        /// FW_CFG_NB_CPUS: the vCPU count, 16-bit little-endian.
        public static let cpuCount: UInt16 = 0x05
        /// FW_CFG_MAX_CPUS: the most vCPUs (here the same count), 16-bit little-endian.
        public static let maxCPUs: UInt16 = 0x0F
        /// FW_CFG_FILE_DIR: the file directory, a big-endian count followed by a 64-byte entry
        /// per file (size, selector, reserved, 56-byte name).
        public static let fileDirectory: UInt16 = 0x19
        /// FW_CFG_FILE_FIRST: the selector of the first file; file i is at `firstFile + i`.
        public static let firstFile: UInt16 = 0x20
    }

    /// The ports: selector at `base`, data at `base + 1`.
    public static let portCount: UInt64 = 2
    private let items: [UInt16: [UInt8]]
    private let cursor = Locked<(item: [UInt8], offset: Int)>(([], 0))

    /// - Parameters:
    ///   - ramSize: bytes of RAM (the RAM size item, 64-bit little-endian).
    ///   - cpus: vCPUs (the CPU count and maximum, 16-bit little-endian).
    ///   - files: the file directory's entries, in order; names longer than 55 bytes are cut.
    public init(ramSize: UInt64, cpus: Int, files: [(name: String, bytes: [UInt8])] = []) {
        var items: [UInt16: [UInt8]] = [:]
        items[Key.signature] = Array("QEMU".utf8)
        items[Key.id] = Self.littleEndian(1, count: 4)
        items[Key.ramSize] = Self.littleEndian(ramSize, count: 8)
        items[Key.cpuCount] = Self.littleEndian(UInt64(cpus), count: 2)
        items[Key.maxCPUs] = Self.littleEndian(UInt64(cpus), count: 2)
        // The directory: a big-endian count, then per file its size (32-bit), selector (16-bit),
        // two reserved bytes and a NUL-padded 56-byte name, all big-endian.
        var directory = Self.bigEndian(UInt64(files.count), count: 4)
        for (index, file) in files.enumerated() {
            let selector = Key.firstFile + UInt16(index)
            items[selector] = file.bytes
            directory += Self.bigEndian(UInt64(file.bytes.count), count: 4) + Self.bigEndian(UInt64(selector), count: 2) + [0, 0]
            let name = Array(file.name.utf8.prefix(55))
            directory += name + [UInt8](repeating: 0, count: 56 - name.count)
        }
        items[Key.fileDirectory] = directory
        self.items = items
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset == 1 else { return 0 }
        return cursor.withLock { c in
            var value: UInt64 = 0
            for i in 0..<min(size, 8) {
                if c.offset < c.item.count { value |= UInt64(c.item[c.offset]) << (8 * UInt64(i)) }
                c.offset += 1
            }
            return value
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset == 0 else { return }
        let item = items[UInt16(truncatingIfNeeded: value)] ?? []
        cursor.withLock { $0 = (item, 0) }
    }

    private static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    private static func bigEndian(_ value: UInt64, count: Int) -> [UInt8] {
        littleEndian(value, count: count).reversed()
    }
}
