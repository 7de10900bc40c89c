/// The MSI-X test device's BAR0 registers (32-bit, little-endian), as design.md defines them.
///
/// ```
///  0x00 MAGIC "MSIX"   0x10 RAISE          0x20 COUNT_SIGNALED   0x30 RESET_COUNTS
///  0x04 VERSION        0x14 RAISE_BACKEND  0x24 COUNT_BACKEND    0x34 SAVE_RESTORE
///  0x08 VECTORS        0x18 USE            0x28 COUNT_PENDED
///  0x0C FEATURES       0x1C UNUSE          0x2C COUNT_DROPPED    0x38 ROUTES_WAITING
///  0x2000 + 4·v  DOORBELL[v]  (a KVM ioeventfd: the backend raises v with no vCPU exit)
/// ```
public enum MSIXTestDeviceRegister {
    /// MAGIC (read-only): reads `magicValue`.
    public static let magic: UInt64 = 0x00
    /// VERSION (read-only): reads `versionValue`.
    public static let version: UInt64 = 0x04
    /// VECTORS (read-only): the device's MSI-X vector count (1…2048).
    public static let vectors: UInt64 = 0x08
    /// FEATURES (read-only): `featureBackend | featureDoorbells`.
    public static let features: UInt64 = 0x0C
    /// RAISE (write-only): the VMM raises vector = value (`KVM_SIGNAL_MSI` when unmasked, else
    /// its pending bit).
    public static let raise: UInt64 = 0x10
    /// RAISE_BACKEND (write-only): the backend signals vector = value on its eventfd (irqfd
    /// when the vector is routed, else held).
    public static let raiseBackend: UInt64 = 0x14
    /// USE (write-only): use count + 1 for vector = value.
    public static let use: UInt64 = 0x18
    /// UNUSE (write-only): use count − 1 for vector = value; at 0 its pending bit clears.
    public static let unuse: UInt64 = 0x1C
    /// COUNT_SIGNALED (read-only): messages sent with `KVM_SIGNAL_MSI`, pending bits delivered
    /// at unmask included, and backend signals on an unmasked vector whose irqfd is not attached
    /// yet (those count in COUNT_BACKEND too).
    public static let countSignaled: UInt64 = 0x20
    /// COUNT_BACKEND (read-only): backend eventfd signals (RAISE_BACKEND and doorbells).
    public static let countBackend: UInt64 = 0x24
    /// COUNT_PENDED (read-only): RAISEs that set a pending bit instead of sending.
    public static let countPended: UInt64 = 0x28
    /// COUNT_DROPPED (read-only): raises dropped: unused or out-of-range vector, or Bus Master
    /// Enable clear.
    public static let countDropped: UInt64 = 0x2C
    /// RESET_COUNTS (write-only, any value): zeroes the four counters.
    public static let resetCounts: UInt64 = 0x30
    /// SAVE_RESTORE (write-only, any value): snapshots the MSI-X state, resets the function and
    /// restores the snapshot.
    public static let saveRestore: UInt64 = 0x34
    /// ROUTES_WAITING (read-only): vectors in use whose irqfd waits for the next commit of the
    /// GSI routing table (coalesced commits); a backend event on one goes by `KVM_SIGNAL_MSI`.
    /// Not in design.md's table: this project's addition, so a guest can tell when the irqfd
    /// path must carry a backend event.
    public static let routesWaiting: UInt64 = 0x38
    /// DOORBELL[0] (write-only); DOORBELL[v] is at `doorbells + 4·v` for v < VECTORS.
    public static let doorbells: UInt64 = 0x2000

    /// What MAGIC reads: 0x5849534D, the bytes "MSIX" in little-endian order.
    public static let magicValue: UInt32 = 0x5849_534D
    /// What VERSION reads: 1.
    public static let versionValue: UInt32 = 1
    /// FEATURES bit 0: backend eventfds (irqfd path).
    public static let featureBackend: UInt32 = 1 << 0
    /// FEATURES bit 1: ioeventfd doorbells.
    public static let featureDoorbells: UInt32 = 1 << 1
    /// BAR0's size.
    public static let barSize: UInt64 = 0x4000
}
