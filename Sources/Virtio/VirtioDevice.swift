import Memory

/// What a virtio device implements, whatever its transport: its identity and features, its
/// queues, its configuration space and how it serves one descriptor chain. The transport does
/// the rest (feature negotiation, status, queue setup, notifications, interrupts, reset).
///
/// Calls come from the transport with its lock held, one at a time: a device needs no lock of
/// its own for what only these calls touch.
public protocol VirtioDevice: AnyObject, Sendable {
    /// The virtio device ID (virtio 1.2 §5): 2 block, 4 entropy.
    var deviceID: UInt16 { get }
    /// The device-specific feature bits it offers (the transport adds VIRTIO_F_VERSION_1,
    /// VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX).
    var features: UInt64 { get }
    /// The largest size of each queue, by queue index (each a power of two).
    var queueSizes: [Int] { get }
    /// Bytes of the device configuration space (0: none).
    var configSize: Int { get }
    /// A driver read of `size` bytes at `offset` in the configuration space (inside it).
    func readConfig(offset: Int, size: Int) -> UInt64
    /// A driver write of `size` bytes at `offset` in the configuration space (inside it).
    func writeConfig(offset: Int, size: Int, value: UInt64)
    /// Serves one chain from queue `queue` and returns the bytes it wrote to the chain's
    /// writable buffers. Throwing says the chain is malformed for this device: the transport
    /// then sets NEEDS_RESET.
    func serve(queue: Int, chain: DescriptorChain, memory: GuestMemory, features: UInt64) throws(VirtioError) -> UInt32
    /// The driver reset the device (device status 0).
    func reset()
}

extension VirtioDevice {
    /// No configuration space.
    public var configSize: Int { 0 }
    /// Reads 0.
    public func readConfig(offset: Int, size: Int) -> UInt64 { 0 }
    /// Ignores the write.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}
    /// Nothing to forget.
    public func reset() {}
}
