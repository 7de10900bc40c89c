/// Offsets and bits of the type 0 configuration header.
///
/// ```
///  0x00  Vendor ID        | Device ID
///  0x04  Command          | Status
///  0x08  Revision | Class code (prog-if, subclass, base class)
///  0x0C  Cache line | Latency | Header type | BIST
///  0x10…0x24  BAR0…BAR5
///  0x2C  Subsystem vendor | Subsystem ID
///  0x34  Capabilities pointer
///  0x3C  Interrupt line | Interrupt pin | Min_Gnt | Max_Lat
/// ```
public enum PCIRegister {
    /// Vendor ID, 2 bytes.
    public static let vendorID = 0x00
    /// Device ID, 2 bytes.
    public static let deviceID = 0x02
    /// Command, 2 bytes (bits in ``PCICommand``).
    public static let command = 0x04
    /// Status, 2 bytes (bits in ``PCIStatus``).
    public static let status = 0x06
    /// Revision ID, 1 byte.
    public static let revision = 0x08
    /// Class code, 3 bytes (prog-if, subclass, base class).
    public static let classCode = 0x09
    /// Header type, 1 byte: 0 for a type 0 header, bit 7 set on function 0 of a multi-function device.
    public static let headerType = 0x0E
    /// BAR0, 4 bytes; BAR n is at `bar0 + 4 · n` (n = 0…5).
    public static let bar0 = 0x10
    /// Subsystem vendor ID, 2 bytes.
    public static let subsystemVendorID = 0x2C
    /// Subsystem ID, 2 bytes.
    public static let subsystemID = 0x2E
    /// Capabilities pointer, 1 byte: the offset of the first capability (valid when Status bit 4 is set).
    public static let capabilitiesPointer = 0x34
    /// Interrupt line, 1 byte: written by the guest's firmware or OS, no effect on the device.
    public static let interruptLine = 0x3C
    /// Interrupt pin, 1 byte: 0 for none, 1…4 for INTA#…INTD#.
    public static let interruptPin = 0x3D
}

/// Command register bits.
public enum PCICommand {
    /// Bit 0: the function decodes its I/O BARs.
    public static let ioSpace: UInt16 = 1 << 0
    /// Bit 1: the function decodes its memory BARs.
    public static let memorySpace: UInt16 = 1 << 1
    /// Bit 2, Bus Master Enable: the function may issue memory writes, MSI and MSI-X messages included.
    public static let busMaster: UInt16 = 1 << 2
    /// Bit 10: the function may not assert its INTx# pin.
    public static let interruptDisable: UInt16 = 1 << 10
    /// The bits a guest may change in this model.
    public static let writable: UInt16 = ioSpace | memorySpace | busMaster | interruptDisable
}

/// Status register bits.
public enum PCIStatus {
    /// Bit 4: the header's capabilities pointer (0x34) is valid; set by the first `addCapability`.
    public static let capabilitiesList: UInt16 = 1 << 4
    /// Error bits a guest clears by writing 1 (parity, target/master abort, system error).
    public static let writeOneToClear: UInt16 = 0xF900
}

/// Capability IDs this project uses.
public enum PCICapabilityID {
    /// MSI (0x05).
    public static let msi: UInt8 = 0x05
    /// Vendor-specific (0x09): contents defined by the vendor.
    public static let vendorSpecific: UInt8 = 0x09
    /// MSI-X (0x11).
    public static let msix: UInt8 = 0x11
}

/// A function's address on bus 0.
public struct PCIAddress: Hashable, Sendable, CustomStringConvertible {
    /// The device (slot) number, 0…31 on a real bus; `PCIRoot` refuses others.
    public let device: Int
    /// The function number, 0…7; `PCIRoot` refuses others.
    public let function: Int
    /// Makes the address 00:`device`.`function`; no range is checked here.
    public init(device: Int, function: Int = 0) {
        self.device = device
        self.function = function
    }
    public var description: String {
        "00:" + (device < 16 ? "0" : "") + String(device, radix: 16) + "." + String(function)
    }
}
