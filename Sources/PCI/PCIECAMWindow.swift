import Devices

/// The ECAM (enhanced configuration access) window: 4 KiB of config space per function.
///
/// ```
///  offset:  27:20 bus | 19:15 device | 14:12 function | 11:0 register
/// ```
/// Accesses of 1, 2 or 4 bytes must be naturally aligned; an aligned 8-byte access acts as two
/// dword accesses, low first. Anything else reads all ones and is dropped. Register space past
/// 0xFF reads 0 (no extended capabilities). Register on the MMIO bus at the ECAM base.
public final class PCIECAMWindow: BusDevice {
    private let root: PCIRoot

    /// Makes the ECAM window for the functions of `root` (only bus 0 has any).
    public init(root: PCIRoot) {
        self.root = root
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard Self.aligned(offset, size) else { return allOnes(size: size) }
        if size == 8 { return read(offset: offset, size: 4) | read(offset: offset + 4, size: 4) << 32 }
        let (bus, device, function, register) = Self.decode(offset)
        return UInt64(root.configRead(bus: bus, device: device, function: function, offset: register, size: size))
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard Self.aligned(offset, size) else { return }
        if size == 8 {
            write(offset: offset, size: 4, value: value & 0xFFFF_FFFF)
            write(offset: offset + 4, size: 4, value: value >> 32)
            return
        }
        let (bus, device, function, register) = Self.decode(offset)
        root.configWrite(bus: bus, device: device, function: function, offset: register, size: size, value: UInt32(truncatingIfNeeded: value))
    }

    private static func aligned(_ offset: UInt64, _ size: Int) -> Bool {
        [1, 2, 4, 8].contains(size) && offset % UInt64(size) == 0
    }

    private static func decode(_ offset: UInt64) -> (Int, Int, Int, Int) {
        (Int(offset >> 20 & 0xFF), Int(offset >> 15 & 0x1F), Int(offset >> 12 & 0x7), Int(offset & 0xFFF))
    }
}
