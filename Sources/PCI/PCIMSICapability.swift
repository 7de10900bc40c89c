import Threads

/// A plain MSI capability (ID 0x05) with one vector and a 64-bit address, no per-vector
/// masking, as QEMU's edu device has it:
///
/// ```
///  0x02  Message Control: bit 0 enable, 3:1 vectors offered (0: one), 6:4 vectors enabled, 7 64-bit (1)
///  0x04  Message Address (bits 1:0 are 0)     0x08  Message Upper Address     0x0C  Message Data (16 bits)
/// ```
/// The device asks `message` for what to send when it signals.
public final class PCIMSICapability: PCICapabilityHandler {
    /// The capability's length in configuration space.
    public static let length = 0x10

    struct State {
        var control: UInt16 = 1 << 7
        var address: UInt64 = 0
        var data: UInt16 = 0
    }

    private let state = Locked(State())
    private let enableChanged: @Sendable (Bool) -> Void

    /// A capability that tells `enableChanged` (outside its lock) when the guest turns MSI on
    /// or off: a device stops driving INTx while MSI is on.
    public init(enableChanged: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.enableChanged = enableChanged
    }

    /// Whether the guest enabled MSI (Message Control bit 0).
    public var isEnabled: Bool { state.withLock { $0.control & 1 != 0 } }

    /// The message the function sends, while MSI is enabled.
    public var message: (address: UInt64, data: UInt32)? {
        state.withLock { s in s.control & 1 != 0 ? (s.address, UInt32(s.data)) : nil }
    }

    public func capabilityRead(offset: Int, size: Int) -> UInt32 {
        state.withLock { s in
            // Dword-wise: the function never crosses a dword within one access.
            let dword: UInt32
            switch offset & ~3 {
            case 0: dword = UInt32(s.control) << 16
            case 4: dword = UInt32(truncatingIfNeeded: s.address)
            case 8: dword = UInt32(truncatingIfNeeded: s.address >> 32)
            case 12: dword = UInt32(s.data)
            default: dword = 0
            }
            let shifted = dword >> (8 * UInt32(offset & 3))
            return size >= 4 ? shifted : shifted & ((1 << (8 * UInt32(size))) - 1)
        }
    }

    public func capabilityWrite(offset: Int, size: Int, value: UInt32) {
        let (before, after) = state.withLock { s -> (Bool, Bool) in
            let before = s.control & 1 != 0
            for byte in 0..<size {
                let at = offset + byte
                let b = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte)))
                switch at {
                case 2: s.control = (s.control & ~1) | UInt16(b) & 1  // enable (one vector: no more to enable)
                case 4...11:
                    let shift = UInt64(8 * (at - 4))
                    s.address = (s.address & ~(0xFF << shift)) | UInt64(b) << shift
                    s.address &= ~3
                case 12, 13:
                    let shift = UInt16(8 * (at - 12))
                    s.data = (s.data & ~(0xFF << shift)) | UInt16(b) << shift
                default: break
                }
            }
            return (before, s.control & 1 != 0)
        }
        if before != after { enableChanged(after) }
    }
}
