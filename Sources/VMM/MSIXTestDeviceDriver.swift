import MSIX
import MachineDevices
import PCI

/// Drives an MSI-X test device from the host through the machine's buses, the way a guest
/// driver's accesses arrive (minus the vCPU exit): for tests and benchmarks of the routing path.
public struct MSIXTestDeviceDriver {
    /// The machine whose buses the accesses go through.
    public let machine: Machine
    /// The test device's PCI function (config space writes go straight to it).
    public let function: PCIFunction
    /// Guest-physical address where BAR1 is mapped: the table at 0, the PBA at `pbaOffset`.
    public let table: UInt64
    /// Guest-physical address where BAR0 (the `MSIXTestDeviceRegister` registers) is mapped.
    public let registers: UInt64
    /// The PBA's offset in BAR1.
    public let pbaOffset: UInt64

    /// The driver of the test device at 00:`slot`.0.
    public init(machine: Machine, slot: Int = 1) throws(VMMError) {
        self.machine = machine
        guard slot >= 1, slot <= machine.testDevices.count, let function = machine.pci.function(at: PCIAddress(device: slot)),
              let table = function.mappedAddress(ofBar: 1), let registers = function.mappedAddress(ofBar: 0)
        else { throw .layout("no mapped MSI-X test device at 00:\(slot).0") }
        self.function = function
        self.table = table
        self.registers = registers
        pbaOffset = MSIXLayout.exclusivePBAOffset(vectorCount: machine.testDevices[slot - 1].vectorCount)
        // As a driver does: the function may send messages only with Bus Master Enable set.
        function.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(PCICommand.memorySpace | PCICommand.busMaster))
    }

    /// Sets or clears Bus Master Enable (Command bit 2), keeping memory decode on.
    public func busMaster(_ enabled: Bool) {
        function.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(PCICommand.memorySpace | (enabled ? PCICommand.busMaster : 0)))
    }

    /// Writes Message Control (Enable bit 15, MaskAll bit 14) through config space.
    public func messageControl(enable: Bool, maskAll: Bool) {
        function.configWrite(offset: MSIXTestDevice.capabilityOffset + 2, size: 2, value: (enable ? 0x8000 : 0) | (maskAll ? 0x4000 : 0))
    }

    /// Programs table entry `vector` with two 8-byte writes: address for APIC ID `apicID`, then
    /// data and Vector Control.
    public func program(_ vector: Int, data: UInt32, masked: Bool, apicID: UInt64 = 0) {
        let entry = table + 16 * UInt64(vector)
        machine.mmioBus.write(entry, size: 8, value: 0xFEE0_0000 | apicID << 12)
        machine.mmioBus.write(entry + 8, size: 8, value: UInt64(data) | (masked ? 1 << 32 : 0))
    }

    /// Sets or clears the Mask bit of `vector`.
    public func mask(_ vector: Int, _ masked: Bool) {
        machine.mmioBus.write(table + 16 * UInt64(vector) + 12, size: 4, value: masked ? 1 : 0)
    }

    /// Reads a BAR0 register.
    public func register(_ offset: UInt64) -> UInt64 { machine.mmioBus.read(registers + offset, size: 4) }

    /// Writes a BAR0 register.
    public func write(_ offset: UInt64, _ value: UInt64) { machine.mmioBus.write(registers + offset, size: 4, value: value) }

    /// Reads `size` bytes of the PBA at byte `offset`.
    public func pba(offset: UInt64 = 0, size: Int = 8) -> UInt64 {
        machine.mmioBus.read(table + pbaOffset + offset, size: size)
    }
}
