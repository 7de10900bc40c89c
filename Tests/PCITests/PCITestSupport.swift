import Devices
import PCI
import Synchronization

/// A register-only device model: BAR offset 0 reads MAGIC, other offsets read a scratch value.
final class RegisterModel: PCIDeviceModel {
    static let magic: UInt64 = 0x5849_534D
    let scratch = Mutex<UInt64>(0)
    let moves = Mutex<[(Int, UInt64?)]>([])
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        offset == 0 ? Self.magic : scratch.withLock { $0 }
    }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        if offset != 0 { scratch.withLock { $0 = value } }
    }
    func barMoved(_ bar: Int, to address: UInt64?) { moves.withLock { $0.append((bar, address)) } }
}

/// A bus 0 with its buses and config mechanisms, as the machine wires them.
struct PCITestBed {
    let portBus = Bus(spaceName: "port")
    let mmioBus = Bus(spaceName: "MMIO")
    let root: PCIRoot
    let ports: PCIConfigPorts
    let ecam: PCIECAMWindow
    static let ecamBase: UInt64 = 0xE000_0000

    init() {
        root = try! PCIRoot(portBus: portBus, mmioBus: mmioBus, mmioWindow: (0xC000_0000, 0x2000_0000), ioWindow: (0xC000, 0x4000), log: { _ in })
        ports = PCIConfigPorts(root: root)
        ecam = PCIECAMWindow(root: root)
        try! portBus.register(ports, name: "pci config", base: 0xCF8, size: 8)
        try! mmioBus.register(ecam, name: "ecam", base: Self.ecamBase, size: 0x10_0000)
    }

    /// A test device with a 16 KiB 32-bit memory BAR0, a 64-bit BAR2 and an I/O BAR4, at 00:03.0.
    func attachTestDevice(model: RegisterModel = RegisterModel()) throws -> PCIFunction {
        let function = PCIFunction(name: "test", identity: .init(vendorID: 0x5357, deviceID: 0x0001, classCode: 0xFF_0000), model: model)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: 0x4000))
        try function.defineBar(2, PCIBarDefinition(kind: .memory64, size: 0x1000, prefetchable: true))
        try function.defineBar(4, PCIBarDefinition(kind: .io, size: 0x20))
        try root.attach(function, at: PCIAddress(device: 3))
        return function
    }

    func cf8Read(device: Int, function: Int = 0, offset: Int, size: Int) -> UInt32 {
        portBus.write(0xCF8, size: 4, value: UInt64(0x8000_0000 | UInt32(device) << 11 | UInt32(function) << 8 | UInt32(offset & 0xFC)))
        return UInt32(portBus.read(0xCFC + UInt64(offset & 3), size: size))
    }

    func cf8Write(device: Int, function: Int = 0, offset: Int, size: Int, value: UInt32) {
        portBus.write(0xCF8, size: 4, value: UInt64(0x8000_0000 | UInt32(device) << 11 | UInt32(function) << 8 | UInt32(offset & 0xFC)))
        portBus.write(0xCFC + UInt64(offset & 3), size: size, value: UInt64(value))
    }

    func ecamRead(device: Int, function: Int = 0, offset: Int, size: Int) -> UInt32 {
        UInt32(mmioBus.read(Self.ecamBase + UInt64(device << 15 | function << 12 | offset), size: size))
    }

    func ecamWrite(device: Int, function: Int = 0, offset: Int, size: Int, value: UInt32) {
        mmioBus.write(Self.ecamBase + UInt64(device << 15 | function << 12 | offset), size: size, value: UInt64(value))
    }
}
