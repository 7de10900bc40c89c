/// Configuration-space accesses to the 12-byte capability (see `MSIXCapability`).
///
/// Offsets are relative to the capability's first byte. Accepted: sizes 1, 2, 4 at any offset
/// whose bytes all lie in the capability. Anything else reads all ones and drops the write
/// (counted in `badCapabilityAccess`); the PCI layer never sends such accesses.
extension MSIXDevice {
    /// Reads `size` bytes at `offset` of the capability, little-endian: ID 0x11, Next Pointer,
    /// Message Control, Table Offset/BIR, PBA Offset/BIR.
    public func capabilityRead(offset: Int, size: Int) -> UInt32 {
        guard validCapabilityAccess(offset: offset, size: size) else {
            counters.badCapabilityAccess &+= 1
            return size == 1 ? 0xFF : size == 2 ? 0xFFFF : 0xFFFF_FFFF
        }
        var value: UInt32 = 0
        for byte in 0..<size {
            value |= UInt32(capabilityByte(offset + byte)) << UInt32(8 * byte)
        }
        return value
    }

    /// Writes `size` bytes at `offset` of the capability. Only Message Control's high byte
    /// (capability byte 3: Enable bit 7, Function Mask bit 6) is writable, so a write is a Message
    /// Control write exactly when it covers byte 3 — e.g. a dword write at offset 0. If the
    /// function mask changes, every vector with its own Mask bit clear changes masked state, in
    /// ascending order (use + pending delivery when unmasking, release when masking: clearing
    /// Enable releases every vector in use), then notifiers commit once.
    public func capabilityWrite(offset: Int, size: Int, value: UInt32) {
        guard validCapabilityAccess(offset: offset, size: size) else {
            counters.badCapabilityAccess &+= 1
            return
        }
        let controlHigh = MSIXCapability.messageControlOffset + 1
        guard offset <= controlHigh && offset + size > controlHigh else { return }
        let byte = UInt8(truncatingIfNeeded: value >> UInt32(8 * (controlHigh - offset)))
        applyMessageControl(enable: byte & 0x80 != 0, functionMask: byte & 0x40 != 0)
        finishOperation()
    }

    private func validCapabilityAccess(offset: Int, size: Int) -> Bool {
        (size == 1 || size == 2 || size == 4) && offset >= 0 && offset <= MSIXCapability.length - size
    }

    /// Byte `index` (0…11) of the capability.
    private func capabilityByte(_ index: Int) -> UInt8 {
        let raw = control.rawValue
        switch index {
        case 0: return MSIXCapability.id
        case 1: return nextPointer
        case 2: return UInt8(truncatingIfNeeded: raw)
        case 3: return UInt8(truncatingIfNeeded: raw >> 8)
        case 4...7: return UInt8(truncatingIfNeeded: layout.table.register >> UInt32(8 * (index - 4)))
        case 8...11: return UInt8(truncatingIfNeeded: layout.pba.register >> UInt32(8 * (index - 8)))
        default: return 0xFF
        }
    }
}
