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
    public static let vendorID = 0x00
    public static let deviceID = 0x02
    public static let command = 0x04
    public static let status = 0x06
    public static let revision = 0x08
    public static let classCode = 0x09
    public static let headerType = 0x0E
    public static let bar0 = 0x10
    public static let subsystemVendorID = 0x2C
    public static let subsystemID = 0x2E
    public static let capabilitiesPointer = 0x34
    public static let interruptLine = 0x3C
    public static let interruptPin = 0x3D
}

/// Command register bits.
public enum PCICommand {
    public static let ioSpace: UInt16 = 1 << 0
    public static let memorySpace: UInt16 = 1 << 1
    public static let busMaster: UInt16 = 1 << 2
    public static let interruptDisable: UInt16 = 1 << 10
    /// The bits a guest may change in this model.
    public static let writable: UInt16 = ioSpace | memorySpace | busMaster | interruptDisable
}

/// Status register bits.
public enum PCIStatus {
    public static let capabilitiesList: UInt16 = 1 << 4
    /// Error bits a guest clears by writing 1 (parity, target/master abort, system error).
    public static let writeOneToClear: UInt16 = 0xF900
}

/// Capability IDs this project uses.
public enum PCICapabilityID {
    public static let msi: UInt8 = 0x05
    public static let vendorSpecific: UInt8 = 0x09
    public static let msix: UInt8 = 0x11
}

/// A function's address on bus 0.
public struct PCIAddress: Hashable, Sendable, CustomStringConvertible {
    public let device: Int
    public let function: Int
    public init(device: Int, function: Int = 0) {
        self.device = device
        self.function = function
    }
    public var description: String {
        "00:" + (device < 16 ? "0" : "") + String(device, radix: 16) + "." + String(function)
    }
}
