import Devices
import Threads

/// PCI bus 0 with a host bridge at 00:00.0 and up to 32 devices of 8 functions each.
///
/// Configuration accesses arrive through `PCIConfigPorts` (0xCF8/0xCFC) or `PCIECAMWindow`;
/// absent functions and other buses read all ones. The root assigns each BAR an initial,
/// naturally aligned address from the machine's windows and turns decode on, as firmware would.
public final class PCIRoot: Sendable {
    private let slots = Locked<[PCIFunction?]>(Array(repeating: nil, count: 32 * 8))
    private let attachment: PCIAttachment
    private let allocator: Locked<PCIWindowAllocator>

    /// Makes bus 0 and attaches its host bridge (8086:29C0, class 0x060000) at 00:00.0.
    ///
    /// Throws `PCIError.badWindow` when a window is empty or runs past the end of its space.
    ///
    /// - Parameters:
    ///   - portBus: where I/O BARs are mapped.
    ///   - mmioBus: where memory BARs are mapped.
    ///   - mmioWindow: (base, size) in guest-physical bytes from which memory BAR addresses are
    ///     assigned; it must end at or below 4 GiB.
    ///   - ioWindow: (base, size) in ports from which I/O BAR addresses are assigned; it must end at
    ///     or below port 0x10000.
    ///   - log: where messages go (a BAR mapping refused because its range overlaps another).
    public init(portBus: Bus, mmioBus: Bus, mmioWindow: (base: UInt64, size: UInt64), ioWindow: (base: UInt64, size: UInt64),
                log: @escaping @Sendable (String) -> Void) throws(PCIError) {
        allocator = Locked(try PCIWindowAllocator(mmio: mmioWindow, io: ioWindow))
        attachment = PCIAttachment(portBus: portBus, mmioBus: mmioBus, log: log)
        attachment.rangesFreed.set { [weak self] in self?.retryRefusedMappings() }
        let bridge = PCIFunction(name: "host bridge", identity: .init(vendorID: 0x8086, deviceID: 0x29C0, classCode: 0x06_0000))
        try attach(bridge, at: PCIAddress(device: 0))
    }

    /// Attaches `function` at `address`, assigns its BARs addresses and maps them.
    ///
    /// Transactional: when it throws (bad address, slot taken, function attached elsewhere, no
    /// room in a window) nothing is left behind: no slot taken, no address allocated.
    public func attach(_ function: PCIFunction, at address: PCIAddress) throws(PCIError) {
        guard (0..<32).contains(address.device) else { throw .slotOutOfRange(address.device) }
        guard (0..<8).contains(address.function) else { throw .functionOutOfRange(address.function) }
        let index = address.device * 8 + address.function
        let addresses = try slots.withLock { (s: inout [PCIFunction?]) throws(PCIError) -> [UInt64?] in
            guard s[index] == nil else { throw .slotTaken(address) }
            guard s.allSatisfy({ $0 !== function }), function.attachment.withLock({ $0 == nil }) else {
                throw .functionAttached(name: function.name)
            }
            let addresses = try allocator.withLock { (a: inout PCIWindowAllocator) throws(PCIError) in try Self.allocate(function.bars, in: &a) }
            s[index] = function
            // Function 0 announces further functions through the multi-function bit.
            if address.function != 0, let first = s[address.device * 8] {
                first.setConfig(PCIRegister.headerType, size: 1, value: 0x80)
            } else if address.function == 0, s[(index + 1)..<(index + 8)].contains(where: { $0 != nil }) {
                function.setConfig(PCIRegister.headerType, size: 1, value: 0x80)
            }
            return addresses
        }
        program(function, addresses)
        function.attachment.withLock { $0 = attachment }
        function.updateMappings()
    }

    /// Takes the function at `address` off the bus: its BARs are unmapped (waiting for accesses
    /// in flight), their addresses go back to the windows, and config accesses to the slot read
    /// all ones again. Returns the function, or nil when the slot is empty. The host bridge
    /// (00:00.0) cannot be detached.
    @discardableResult
    public func detach(at address: PCIAddress) -> PCIFunction? {
        guard (0..<32).contains(address.device), (0..<8).contains(address.function), address != PCIAddress(device: 0) else { return nil }
        let index = address.device * 8 + address.function
        let removed: PCIFunction? = slots.withLock { s in
            defer { s[index] = nil }
            if address.function != 0, let first = s[address.device * 8],
               s[(address.device * 8 + 1)..<(address.device * 8 + 8)].filter({ $0 != nil }).count == 1 {
                first.setConfig(PCIRegister.headerType, size: 1, value: 0)
            }
            return s[index]
        }
        guard let removed else { return nil }
        removed.detachFromBuses()
        allocator.withLock { a in
            for (i, bar) in removed.bars.enumerated() {
                if let bar, let assigned = removed.assignedAddress(ofBar: i) { a.free(bar.kind, at: assigned) }
            }
        }
        retryRefusedMappings()
        return removed
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

    /// Maps again every BAR whose mapping was refused (it overlapped another range) now that a
    /// range went away: a guest that separates two BARs it had overlapped finds both working
    /// without rewriting the one that was refused.
    func retryRefusedMappings() {
        let functions = slots.withLock { $0.compactMap { $0 } }
        for function in functions where function.hasRefusedMapping { function.updateMappings(retrying: true) }
    }

    /// Addresses for every BAR of a function, all or none: on failure the ones taken are given back.
    private static func allocate(_ bars: [PCIBarDefinition?], in a: inout PCIWindowAllocator) throws(PCIError) -> [UInt64?] {
        var addresses: [UInt64?] = []
        for bar in bars {
            guard let bar else { addresses.append(nil); continue }
            do {
                addresses.append(try a.allocate(bar))
            } catch {
                for (i, taken) in addresses.enumerated() { if let taken, let kind = bars[i]?.kind { a.free(kind, at: taken) } }
                throw error
            }
        }
        return addresses
    }

    /// Writes the assigned addresses into the BAR registers and turns decode on, as firmware would.
    private func program(_ function: PCIFunction, _ addresses: [UInt64?]) {
        var command: UInt16 = 0
        for (index, bar) in function.bars.enumerated() {
            guard let bar, let address = addresses[index] else { continue }
            let register = PCIRegister.bar0 + 4 * index
            function.configWrite(offset: register, size: 4, value: UInt32(truncatingIfNeeded: address))
            if bar.kind == .memory64 { function.configWrite(offset: register + 4, size: 4, value: UInt32(truncatingIfNeeded: address >> 32)) }
            function.recordAssignedAddress(address, ofBar: index)
            command |= bar.kind == .io ? PCICommand.ioSpace : PCICommand.memorySpace
        }
        if command != 0 { function.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(command)) }
    }
}
