import CKVM
import Memory

/// Unchecked little-endian loads and stores for ring structures whose whole extent the caller
/// has checked to lie in RAM (a queue's areas when it is enabled, a descriptor table entry, an
/// indirect table), and the ordered accesses that the driver and the device publish their ring
/// indices with.
extension GuestMemory {
    func loadLE16(_ address: UInt64) -> UInt16 { UInt16(littleEndian: (hostBase + Int(address)).loadUnaligned(as: UInt16.self)) }
    func loadLE32(_ address: UInt64) -> UInt32 { UInt32(littleEndian: (hostBase + Int(address)).loadUnaligned(as: UInt32.self)) }
    func loadLE64(_ address: UInt64) -> UInt64 { UInt64(littleEndian: (hostBase + Int(address)).loadUnaligned(as: UInt64.self)) }
    func storeLE16(_ value: UInt16, _ address: UInt64) { (hostBase + Int(address)).storeBytes(of: value.littleEndian, as: UInt16.self) }
    func storeLE32(_ value: UInt32, _ address: UInt64) { (hostBase + Int(address)).storeBytes(of: value.littleEndian, as: UInt32.self) }
    /// A 2-aligned index the driver publishes (avail->idx): later loads see what it published.
    func loadAcquire16(_ address: UInt64) -> UInt16 { UInt16(littleEndian: ckvm_load_acquire_u16(hostBase + Int(address))) }
    /// A 2-aligned index the device publishes (used->idx): earlier stores are seen first.
    func storeRelease16(_ value: UInt16, _ address: UInt64) { ckvm_store_release_u16(hostBase + Int(address), value.littleEndian) }
}

/// A full memory fence: a store before it is visible before any load after it.
func memoryFence() { ckvm_fence() }
