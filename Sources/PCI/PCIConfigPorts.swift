import Devices
import Synchronization

/// Configuration mechanism #1: the address register at 0xCF8 and the data window at 0xCFC–0xCFF.
///
/// ```
///  CONFIG_ADDRESS (dword at 0xCF8)
///  31 enable | 30:24 reserved | 23:16 bus | 15:11 device | 10:8 function | 7:0 register
/// ```
/// Only dword accesses reach the address register; other sizes there read all ones and are
/// dropped. Bits 1:0 of the register are kept and read back as written (kvm-unit-tests sets
/// them): a data access of 1, 2 or 4 bytes at 0xCFC + k addresses register | k and must not run
/// past the end of that dword. With the enable bit clear, data reads return all ones and writes
/// are dropped.
/// Register this device on the port bus at 0xCF8 with size 8.
public final class PCIConfigPorts: BusDevice {
    private let root: PCIRoot
    private let address = Atomic<UInt32>(0)

    /// Makes the CF8/CFC pair for the functions of `root`; CONFIG_ADDRESS starts at 0 (disabled).
    public init(root: PCIRoot) {
        self.root = root
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        if offset < 4 {
            return offset == 0 && size == 4 ? UInt64(address.load(ordering: .relaxed)) : allOnes(size: size)
        }
        guard let target = decode(offset: offset, size: size) else { return allOnes(size: size) }
        return UInt64(root.configRead(bus: target.bus, device: target.device, function: target.function, offset: target.register, size: size))
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        if offset < 4 {
            if offset == 0 && size == 4 { address.store(UInt32(truncatingIfNeeded: value) & 0x80FF_FFFF, ordering: .relaxed) }
            return
        }
        guard let target = decode(offset: offset, size: size) else { return }
        root.configWrite(bus: target.bus, device: target.device, function: target.function, offset: target.register,
                         size: size, value: UInt32(truncatingIfNeeded: value))
    }

    private func decode(offset: UInt64, size: Int) -> (bus: Int, device: Int, function: Int, register: Int)? {
        let k = Int(offset) - 4
        guard [1, 2, 4].contains(size), k >= 0, k < 4 else { return nil }
        let a = address.load(ordering: .relaxed)
        let register = Int(a & 0xFF) | k
        guard a & 0x8000_0000 != 0, register % 4 + size <= 4 else { return nil }
        return (Int(a >> 16 & 0xFF), Int(a >> 11 & 0x1F), Int(a >> 8 & 0x7), register)
    }
}
