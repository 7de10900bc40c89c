/// One port or MMIO access as the exit hook and the exit observer see it: plain values copied
/// out of the exit, so nothing of the vCPU's `kvm_run` area outlives it. String I/O is one event
/// per item.
public struct ExitEvent: Sendable, Equatable {
    /// Which space the access is in, and its direction.
    public enum Kind: Sendable, Equatable {
        /// `portRead`: an IN (or INS item); `portWrite`: an OUT (or OUTS item); `mmioRead` and
        /// `mmioWrite`: a load or store to an address no memory slot backs (or a store to a ROM).
        case portRead, portWrite, mmioRead, mmioWrite
    }

    /// The access's space and direction.
    public let kind: Kind
    /// The vCPU that exited.
    public let vcpu: Int
    /// The port or the guest-physical address.
    public let address: UInt64
    /// Bytes per item (1, 2, 4; up to 8 for MMIO).
    public let size: Int
    /// The value written, or the value the read returns. A hook that handles a read sets it.
    public var value: UInt64
    /// Items moved: more than 1 for string port I/O (`rep outsb` and the like).
    public let count: Int

    /// True for port and MMIO writes.
    public var isWrite: Bool { kind == .portWrite || kind == .mmioWrite }

    /// An event with these values (the vCPU loop makes them; a test of a hook may too).
    public init(kind: Kind, vcpu: Int, address: UInt64, size: Int, value: UInt64, count: Int = 1) {
        self.kind = kind
        self.vcpu = vcpu
        self.address = address
        self.size = size
        self.value = value
        self.count = count
    }
}
