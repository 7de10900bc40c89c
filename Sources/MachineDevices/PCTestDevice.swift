import Devices
import Threads

/// QEMU's `pc-testdev`, the ISA device kvm-unit-tests drives on x86, with the registers and
/// behaviour its tests expect:
///
/// ```
///  ports 0xE0–0xE3  a 32-bit scratch register, byte lanes: a write of n bytes at 0xE0 + k sets
///                   bytes k…k+n−1 (those that fit), a read returns them
///  ports 0xE4–0xE7  flush page: a 4-byte write of a guest-physical address makes KVM drop its
///                   mapping of that page, so the guest's next touch faults it in again
///  ports 0xE8–0xEB  the scratch register again
///  ports 0x2000–0x2017  IRQ line n (< 16): a byte write sets its level (non-zero: high); wider
///                   writes set consecutive lines, one per byte
///  MMIO 0xFF000000–0xFF00FFFF  64 KiB of memory that every access reaches through an exit,
///                   to exercise KVM's instruction emulator
/// ```
/// Reads of the flush and IRQ ports return 0.
public final class PCTestDevice: Sendable {
    /// The first port of the scratch and flush-page block, 0xE0.
    public static let portBase: UInt64 = 0xE0
    /// Ports of that block: 0xE0–0xEB.
    public static let portCount: UInt64 = 12
    /// The port of IRQ line 0, 0x2000.
    public static let irqPortBase: UInt64 = 0x2000
    /// Ports of the IRQ block: 0x2000–0x2017 (writes past line 15 are ignored).
    public static let irqPortCount: UInt64 = 24
    /// Guest-physical address of the iomem area, 0xFF000000.
    public static let memoryBase: UInt64 = 0xFF00_0000
    /// Bytes of the iomem area: 64 KiB.
    public static let memorySize: UInt64 = 0x1_0000

    let ports: Ports
    let lines: IRQLines
    let memory: IOMemory

    /// - Parameters:
    ///   - setIRQLine: sets ISA IRQ line n (0…15) high or low (a machine passes KVM_IRQ_LINE).
    ///   - flushPage: drops the host mapping of the guest page at an address (see `GuestMemory`).
    public init(setIRQLine: @escaping @Sendable (UInt32, Bool) -> Void, flushPage: @escaping @Sendable (UInt64) -> Void) {
        ports = Ports(flushPage: flushPage)
        lines = IRQLines(setLine: setIRQLine)
        memory = IOMemory()
    }

    /// Registers the device's ranges.
    public func register(portBus: Bus, mmioBus: Bus) throws {
        try portBus.register(ports, name: "pc-testdev", base: Self.portBase, size: Self.portCount)
        try portBus.register(lines, name: "pc-testdev IRQ lines", base: Self.irqPortBase, size: Self.irqPortCount)
        try mmioBus.register(memory, name: "pc-testdev iomem", base: Self.memoryBase, size: Self.memorySize)
    }

    final class Ports: BusDevice {
        private let scratch = Locked<UInt32>(0)
        private let flushPage: @Sendable (UInt64) -> Void

        init(flushPage: @escaping @Sendable (UInt64) -> Void) { self.flushPage = flushPage }

        func read(offset: UInt64, size: Int) -> UInt64 {
            guard let lane = Self.lane(offset) else { return 0 }
            let value = scratch.withLock { $0 }
            return UInt64(value >> (8 * lane)) & Self.mask(size)
        }

        func write(offset: UInt64, size: Int, value: UInt64) {
            if offset == 4 {
                if size == 4 { flushPage(value & 0xFFFF_F000) }
                return
            }
            guard let lane = Self.lane(offset) else { return }
            let mask = UInt32(truncatingIfNeeded: Self.mask(size) << (8 * lane))
            scratch.withLock { $0 = $0 & ~mask | UInt32(truncatingIfNeeded: value << (8 * lane)) & mask }
        }

        /// The byte lane of a scratch port (0xE0–0xE3 and 0xE8–0xEB), nil for the others.
        private static func lane(_ offset: UInt64) -> UInt64? {
            switch offset {
            case 0..<4: offset
            case 8..<12: offset - 8
            default: nil
            }
        }

        private static func mask(_ size: Int) -> UInt64 { size >= 4 ? 0xFFFF_FFFF : (1 << (8 * UInt64(max(0, size)))) - 1 }
    }

    final class IRQLines: BusDevice {
        private let setLine: @Sendable (UInt32, Bool) -> Void
        init(setLine: @escaping @Sendable (UInt32, Bool) -> Void) { self.setLine = setLine }

        func read(offset: UInt64, size: Int) -> UInt64 { 0 }

        func write(offset: UInt64, size: Int, value: UInt64) {
            for byte in 0..<max(0, min(size, 8)) {
                let line = offset + UInt64(byte)
                guard line < 16 else { continue }  // ISA has 16 lines
                setLine(UInt32(line), (value >> (8 * UInt64(byte))) & 0xFF != 0)
            }
        }
    }

    /// The 64 KiB are made at the first write (most guests never touch them); until then every
    /// byte reads 0.
    final class IOMemory: BusDevice {
        private let bytes = Locked<[UInt8]>([])

        func read(offset: UInt64, size: Int) -> UInt64 {
            bytes.withLock { b in
                var value: UInt64 = 0
                for i in 0..<max(0, min(size, 8)) where offset + UInt64(i) < UInt64(b.count) {
                    value |= UInt64(b[Int(offset) + i]) << (8 * UInt64(i))
                }
                return value
            }
        }

        func write(offset: UInt64, size: Int, value: UInt64) {
            bytes.withLock { b in
                if b.isEmpty { b = [UInt8](repeating: 0, count: Int(PCTestDevice.memorySize)) }
                for i in 0..<max(0, min(size, 8)) where offset + UInt64(i) < UInt64(b.count) {
                    b[Int(offset) + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
                }
            }
        }
    }
}
