import Devices

/// What a device behind a PCI function implements: its BAR registers.
///
/// Calls come from vCPU threads, possibly several at once; the model synchronises its own state.
/// Offsets are relative to the BAR's start, sizes are 1, 2, 4 or 8 and every value is guest
/// controlled: a model must survive any offset and size within the BAR.
public protocol PCIDeviceModel: AnyObject, Sendable {
    /// Returns the value of a guest read of `size` bytes at `offset` in BAR `bar` (0–5); only the
    /// low `size` bytes reach the guest.
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64
    /// Handles a guest write of `value` (`size` bytes, zero-extended) at `offset` in BAR `bar` (0–5).
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64)
    /// Told when a BAR is mapped at `address` (nil: unmapped), e.g. to move ioeventfds along.
    func barMoved(_ bar: Int, to address: UInt64?)
    /// Told the Command register's value when the function is attached and after every guest
    /// write to it (in write order), e.g. to follow Bus Master Enable (bit 2).
    func commandChanged(_ command: UInt16)
}

extension PCIDeviceModel {
    public func barMoved(_ bar: Int, to address: UInt64?) {}
    public func commandChanged(_ command: UInt16) {}
}

/// The owner of a capability's registers (after its ID and next-pointer bytes, which the PCI
/// function keeps). Offsets are relative to the capability's first byte; accesses never cross a
/// dword boundary. Bytes 0–1 of a read are replaced by the ID and next pointer.
public protocol PCICapabilityHandler: AnyObject, Sendable {
    /// Returns the value of a config read of `size` (1, 2 or 4) bytes at `offset` into the
    /// capability; called under the function's lock.
    func capabilityRead(offset: Int, size: Int) -> UInt32
    /// Handles a config write of `size` (1, 2 or 4) bytes at `offset` into the capability; write
    /// masks do not apply and a write to bytes 0–1 reaches the handler too. Called under the
    /// function's lock.
    func capabilityWrite(offset: Int, size: Int, value: UInt32)
}

/// The bus device that maps one BAR on the machine's port or MMIO bus and forwards to the model.
final class PCIBarRegion: BusDevice {
    let model: any PCIDeviceModel
    let bar: Int

    init(model: any PCIDeviceModel, bar: Int) {
        self.model = model
        self.bar = bar
    }

    func read(offset: UInt64, size: Int) -> UInt64 { model.barRead(bar, offset: offset, size: size) }
    func write(offset: UInt64, size: Int, value: UInt64) { model.barWrite(bar, offset: offset, size: size, value: value) }
}
