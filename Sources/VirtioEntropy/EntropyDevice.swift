#if canImport(Glibc)
import Glibc
#endif
import CKVM
import Memory
import Virtio

/// virtio-rng (virtio 1.2 §5.4): one queue, no configuration, no features. Every writable
/// buffer of a chain is filled with bytes from the host's `getrandom`; the used length says how
/// many. A chain with no writable buffer is answered with 0 bytes.
public final class EntropyDevice: VirtioDevice {
    /// The virtio device ID of an entropy source.
    public let deviceID: UInt16 = 4
    /// No device-specific features.
    public let features: UInt64 = 0
    /// One request queue of up to 256 entries.
    public let queueSizes = [256]
    /// The PCI class code QEMU gives it: "other" (0xFF0000).
    public static let classCode: UInt32 = 0xFF_0000
    /// The most bytes one chain gets (Linux asks for 64 at a time at most; a larger request is
    /// answered in part, which the specification allows).
    public static let maxPerRequest = 64 * 1024

    /// A device; it holds no state.
    public init() {}

    public func serve(queue: Int, chain: DescriptorChain, memory: GuestMemory, features: UInt64) throws(VirtioError) -> UInt32 {
        var written = 0
        for buffer in chain.writable where written < Self.maxPerRequest {
            let count = min(Int(buffer.length), Self.maxPerRequest - written)
            // In RAM: the chain's buffers were checked when it was read.
            let start = memory.hostBase + Int(buffer.address)
            var filled = 0
            while filled < count {
                let n = ckvm_getrandom(start + filled, count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    return UInt32(written + filled)
                }
                filled += n
            }
            written += filled
        }
        return UInt32(written)
    }
}
