import Devices
import Synchronization

/// PCI bus 0 with a host bridge at 00:00.0 and up to 32 devices of 8 functions each.
///
/// Configuration accesses arrive through `PCIConfigPorts` (0xCF8/0xCFC) or `PCIECAMWindow`;
/// absent functions and other buses read all ones. The root assigns each BAR an initial,
/// naturally aligned address from the machine's windows and turns decode on, as firmware would.
public final class PCIRoot: Sendable {
    private let slots = Mutex<[PCIFunction?]>(Array(repeating: nil, count: 32 * 8))
    private let attachment: PCIAttachment
    private let allocator: Mutex<PCIWindowAllocator>

    /// - Parameters:
    ///   - portBus, mmioBus: where BARs are mapped.
    ///   - mmioWindow, ioWindow: (base, size) from which BAR addresses are assigned.
    public init(portBus: Bus, mmioBus: Bus, mmioWindow: (base: UInt64, size: UInt64), ioWindow: (base: UInt64, size: UInt64),
                log: @escaping @Sendable (String) -> Void) {
        attachment = PCIAttachment(portBus: portBus, mmioBus: mmioBus, log: log)
        allocator = Mutex(PCIWindowAllocator(mmio: mmioWindow, io: ioWindow))
        let bridge = PCIFunction(name: "host bridge", identity: .init(vendorID: 0x8086, deviceID: 0x29C0, classCode: 0x06_0000))
        try? attach(bridge, at: PCIAddress(device: 0))
    }

    /// Attaches `function` at `address`, assigns its BARs addresses and maps them.
    public func attach(_ function: PCIFunction, at address: PCIAddress) throws(PCIError) {
        guard (0..<32).contains(address.device), (0..<8).contains(address.function) else { throw .slotOutOfRange(address.device) }
        let index = address.device * 8 + address.function
        try slots.withLock { (s: inout [PCIFunction?]) throws(PCIError) in
            guard s[index] == nil else { throw .slotTaken(address) }
            s[index] = function
            // Function 0 announces further functions through the multi-function bit.
            if address.function != 0, let first = s[address.device * 8] {
                first.setConfig(PCIRegister.headerType, size: 1, value: 0x80)
            } else if address.function == 0, s[(index + 1)..<(index + 8)].contains(where: { $0 != nil }) {
                function.setConfig(PCIRegister.headerType, size: 1, value: 0x80)
            }
        }
        try assignResources(function)
        function.attachment.withLock { $0 = attachment }
        function.updateMappings()
    }

    /// The first free device number (for `--test-devices N`), or nil when the bus is full.
    public func nextFreeDevice() -> Int? {
        slots.withLock { s in (0..<32).first { d in s[d * 8] == nil } }
    }

    /// The function at `address`, if any.
    public func function(at address: PCIAddress) -> PCIFunction? {
        guard (0..<32).contains(address.device), (0..<8).contains(address.function) else { return nil }
        return slots.withLock { $0[address.device * 8 + address.function] }
    }

    /// A configuration read; all ones for absent functions and buses other than 0.
    public func configRead(bus: Int, device: Int, function: Int, offset: Int, size: Int) -> UInt32 {
        guard bus == 0, let target = self.function(at: PCIAddress(device: device, function: function)) else {
            return UInt32(truncatingIfNeeded: allOnes(size: size))
        }
        return target.configRead(offset: offset, size: size)
    }

    /// A configuration write; dropped for absent functions and buses other than 0.
    public func configWrite(bus: Int, device: Int, function: Int, offset: Int, size: Int, value: UInt32) {
        guard bus == 0, let target = self.function(at: PCIAddress(device: device, function: function)) else { return }
        target.configWrite(offset: offset, size: size, value: value)
    }

    private func assignResources(_ function: PCIFunction) throws(PCIError) {
        var command: UInt16 = 0
        for (index, bar) in function.bars.enumerated() {
            guard let bar else { continue }
            let address = try allocator.withLock { (a: inout PCIWindowAllocator) throws(PCIError) in try a.allocate(bar) }
            let register = PCIRegister.bar0 + 4 * index
            function.configWrite(offset: register, size: 4, value: UInt32(truncatingIfNeeded: address))
            if bar.kind == .memory64 { function.configWrite(offset: register + 4, size: 4, value: UInt32(truncatingIfNeeded: address >> 32)) }
            command |= bar.kind == .io ? PCICommand.ioSpace : PCICommand.memorySpace
        }
        if command != 0 { function.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(command)) }
    }
}

/// Hands out naturally aligned BAR addresses from the MMIO and I/O windows, lowest first.
struct PCIWindowAllocator {
    var mmio: (base: UInt64, size: UInt64)
    var io: (base: UInt64, size: UInt64)
    var nextMMIO: UInt64
    var nextIO: UInt64

    init(mmio: (base: UInt64, size: UInt64), io: (base: UInt64, size: UInt64)) {
        self.mmio = mmio
        self.io = io
        nextMMIO = mmio.base
        nextIO = io.base
    }

    mutating func allocate(_ bar: PCIBarDefinition) throws(PCIError) -> UInt64 {
        let isIO = bar.kind == .io
        let window = isIO ? io : mmio
        let next = isIO ? nextIO : nextMMIO
        let aligned = (next + bar.size - 1) & ~(bar.size - 1)
        guard aligned >= next, aligned + bar.size <= window.base + window.size else {
            throw .windowExhausted(size: bar.size, window: isIO ? "I/O" : "MMIO")
        }
        if isIO { nextIO = aligned + bar.size } else { nextMMIO = aligned + bar.size }
        return aligned
    }
}
