/// The MSI-X test device's BAR0 registers (32-bit, little-endian), as design.md defines them.
///
/// ```
///  0x00 MAGIC "MSIX"   0x10 RAISE          0x20 COUNT_SIGNALED   0x30 RESET_COUNTS
///  0x04 VERSION        0x14 RAISE_BACKEND  0x24 COUNT_BACKEND    0x34 SAVE_RESTORE
///  0x08 VECTORS        0x18 USE            0x28 COUNT_PENDED
///  0x0C FEATURES       0x1C UNUSE          0x2C COUNT_DROPPED
///  0x2000 + 4·v  DOORBELL[v]  (a KVM ioeventfd: the backend raises v with no vCPU exit)
/// ```
public enum MSIXTestDeviceRegister {
    public static let magic: UInt64 = 0x00
    public static let version: UInt64 = 0x04
    public static let vectors: UInt64 = 0x08
    public static let features: UInt64 = 0x0C
    public static let raise: UInt64 = 0x10
    public static let raiseBackend: UInt64 = 0x14
    public static let use: UInt64 = 0x18
    public static let unuse: UInt64 = 0x1C
    public static let countSignaled: UInt64 = 0x20
    public static let countBackend: UInt64 = 0x24
    public static let countPended: UInt64 = 0x28
    public static let countDropped: UInt64 = 0x2C
    public static let resetCounts: UInt64 = 0x30
    public static let saveRestore: UInt64 = 0x34
    public static let doorbells: UInt64 = 0x2000

    public static let magicValue: UInt32 = 0x5849_534D
    public static let versionValue: UInt32 = 1
    /// FEATURES bit 0: backend eventfds (irqfd path); bit 1: ioeventfd doorbells.
    public static let featureBackend: UInt32 = 1 << 0
    public static let featureDoorbells: UInt32 = 1 << 1
    /// BAR0's size.
    public static let barSize: UInt64 = 0x4000
}
