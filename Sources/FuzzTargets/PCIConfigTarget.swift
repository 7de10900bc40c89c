import Devices
import PCI
import Threads

/// PCI configuration space through CF8/CFC and ECAM, and BAR accesses, on bus 0 with a function
/// that has a 32-bit, a 64-bit and an I/O BAR and two capabilities: every offset and size the
/// input names, BAR sizing and relocation onto each other. Invariants: the identity registers
/// never change, and the function's BARs are mapped only where their registers say.
private final class Scratch: PCIDeviceModel {
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { UInt64(bar) << 8 | offset & 0xFF }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
}

private final class Capability: PCICapabilityHandler {
    let value = Locked<UInt32>(0)
    func capabilityRead(offset: Int, size: Int) -> UInt32 { value.withLock { $0 } }
    func capabilityWrite(offset: Int, size: Int, value: UInt32) { self.value.withLock { $0 = value } }
}

extension FuzzTarget {
    static func pciConfig(_ bytes: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let portBus = Bus(spaceName: "port"), mmioBus = Bus(spaceName: "MMIO")
        let ecamBase: UInt64 = 0xE000_0000
        guard let root = try? PCIRoot(portBus: portBus, mmioBus: mmioBus, mmioWindow: (0xC000_0000, 0x2000_0000),
                                      ioWindow: (0xC000, 0x4000), log: { _ in }) else { throw FuzzFailure("no PCI root") }
        try! portBus.register(PCIConfigPorts(root: root), name: "cf8", base: 0xCF8, size: 8)
        try! mmioBus.register(PCIECAMWindow(root: root), name: "ecam", base: ecamBase, size: 0x10_0000)
        for device in 1...2 {
            let f = PCIFunction(name: "f\(device)", identity: .init(vendorID: 0x5357, deviceID: UInt16(device), classCode: 0xFF_0000), model: Scratch())
            try! f.defineBar(0, PCIBarDefinition(kind: .memory32, size: 0x1000))
            try! f.defineBar(2, PCIBarDefinition(kind: .memory64, size: 0x4000, prefetchable: true))
            try! f.defineBar(4, PCIBarDefinition(kind: .io, size: 0x20))
            _ = try! f.addCapability(id: 0x09, length: 8, handler: Capability())
            _ = try! f.addCapability(id: 0x11, length: 12, handler: Capability())
            try! root.attach(f, at: PCIAddress(device: device))
        }
        var operations = 0
        while !input.isEmpty, operations < 4096 {
            operations += 1
            let op = input.u8()
            let size = input.size()
            switch op % 8 {
            case 0: portBus.write(0xCF8, size: 4, value: UInt64(input.u32()))
            case 1: _ = portBus.read(0xCF8 + UInt64(input.u8() & 7), size: size)
            case 2: portBus.write(0xCF8 + UInt64(input.u8() & 7), size: size, value: input.u64())
            case 3: _ = mmioBus.read(ecamBase + UInt64(input.u32() & 0xF_FFFF), size: size)
            case 4: mmioBus.write(ecamBase + UInt64(input.u32() & 0xF_FFFF), size: size, value: input.u64())
            case 5: _ = mmioBus.read(0xC000_0000 + UInt64(input.u32() & 0x1FFF_FFFF), size: size)
            case 6: portBus.write(0xC000 + UInt64(input.u16() & 0x3FFF), size: size, value: input.u64())
            default:
                // Move a BAR through ECAM to an address of the input's choosing.
                let device = UInt64(1 + input.u8() % 2), bar = UInt64(input.u8() % 6)
                mmioBus.write(ecamBase + (device << 15) + 0x10 + bar * 4, size: 4, value: UInt64(input.u32()))
            }
        }
        for device in 1...2 {
            let id = mmioBus.read(ecamBase + UInt64(device) << 15, size: 4)
            guard id == 0x5357 | UInt64(device) << 16 else { throw FuzzFailure("identity of 00:0\(device).0 changed: \(id)") }
        }
    }
}
