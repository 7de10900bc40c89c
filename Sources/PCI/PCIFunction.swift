import Devices
import Threads

/// One PCI function: a type 0 configuration header with write masks, up to six BARs, a capability
/// list, and the device model behind it. Attached to a `PCIRoot`, it maps each BAR on the machine's
/// bus while decode is on and the address is valid, and moves it when the guest reprograms it.
public final class PCIFunction: Sendable {
    /// Identity of the function as its header shows it.
    public struct Identity: Sendable {
        /// The Vendor ID register (0x00), e.g. 0x8086 for Intel.
        public var vendorID: UInt16
        /// The Device ID register (0x02), chosen by the vendor.
        public var deviceID: UInt16
        /// The 24-bit class code at 0x09: base class << 16 | subclass << 8 | prog-if
        /// (0x06_0000 is a host bridge).
        public var classCode: UInt32
        /// The Revision ID register (0x08).
        public var revision: UInt8 = 0
        /// The Subsystem Vendor ID register (0x2C); 0 unless set.
        public var subsystemVendorID: UInt16 = 0
        /// The Subsystem ID register (0x2E); 0 unless set.
        public var subsystemID: UInt16 = 0
        /// Makes an identity with subsystem IDs 0 (set them on the value before creating the function).
        public init(vendorID: UInt16, deviceID: UInt16, classCode: UInt32, revision: UInt8 = 0) {
            self.vendorID = vendorID; self.deviceID = deviceID; self.classCode = classCode; self.revision = revision
        }
    }

    struct Capability {
        let offset: Int
        let length: Int
        let handler: (any PCICapabilityHandler)?
    }

    struct State {
        var config = PCIConfigSpace()
        var bars = [PCIBarDefinition?](repeating: nil, count: 6)
        var mapped = [UInt64?](repeating: nil, count: 6)
        /// What the root assigned each BAR when it attached the function (given back on detach).
        var assigned = [UInt64?](repeating: nil, count: 6)
        var capabilities: [Capability] = []
    }

    /// The IDs and class code the header shows, fixed when the function is made.
    public let identity: Identity
    /// The function's name in messages, and in the bus ranges of its BARs ("NAME BAR0").
    public let name: String
    let model: (any PCIDeviceModel)?
    private let state = Locked(State())
    /// Set by `PCIRoot` when attached: the buses BARs are mapped on, and the log.
    let attachment = Locked<PCIAttachment?>(nil)
    /// Held for a whole `updateMappings`, so two vCPUs writing this function's config space at
    /// once cannot interleave their unregister/register steps (which could leave a stale range
    /// mapped). Lock order: this, then `state`, then the bus, then the model's own locks.
    private let mappingLock = Locked(())

    /// A function with `identity`, whose BARs are served by `model`; `name` appears in messages.
    public init(name: String, identity: Identity, model: (any PCIDeviceModel)? = nil) {
        self.name = name
        self.identity = identity
        self.model = model
        state.withLock { s in
            s.config.set(PCIRegister.vendorID, size: 2, value: UInt32(identity.vendorID))
            s.config.set(PCIRegister.deviceID, size: 2, value: UInt32(identity.deviceID))
            s.config.set(PCIRegister.revision, size: 1, value: UInt32(identity.revision))
            s.config.set(PCIRegister.classCode, size: 3, value: identity.classCode)
            s.config.set(PCIRegister.subsystemVendorID, size: 2, value: UInt32(identity.subsystemVendorID))
            s.config.set(PCIRegister.subsystemID, size: 2, value: UInt32(identity.subsystemID))
            s.config.setWritable(PCIRegister.command, size: 2, mask: UInt32(PCICommand.writable))
            s.config.setWriteOneToClear(PCIRegister.status, size: 2, mask: UInt32(PCIStatus.writeOneToClear))
            s.config.setWritable(PCIRegister.interruptLine, size: 1, mask: 0xFF)
        }
    }

    /// Defines BAR `index` (a 64-bit BAR also takes `index + 1`).
    public func defineBar(_ index: Int, _ bar: PCIBarDefinition) throws(PCIError) {
        guard index >= 0, index + bar.registerCount <= 6 else { throw .badBarIndex(index) }
        try state.withLock { (s: inout State) throws(PCIError) in
            for i in index..<(index + bar.registerCount) where s.bars[i] != nil || (i > 0 && s.bars[i - 1]?.kind == .memory64) {
                throw .barTaken(i)
            }
            s.bars[index] = bar
            let register = PCIRegister.bar0 + 4 * index
            s.config.set(register, size: 4, value: bar.typeBits)
            let addressMask = UInt32(truncatingIfNeeded: ~(bar.size - 1)) & (bar.kind == .io ? 0xFFFF_FFFC : 0xFFFF_FFF0)
            s.config.setWritable(register, size: 4, mask: addressMask)
            if bar.kind == .memory64 {
                s.config.setWritable(register + 4, size: 4, mask: UInt32(truncatingIfNeeded: ~(bar.size - 1) >> 32))
            }
        }
    }

    /// Adds a capability of `length` bytes with ID `id`, at `offset` or at the next free dword-aligned
    /// offset from 0x40, links it into the list and returns its offset.
    @discardableResult
    public func addCapability(id: UInt8, length: Int, at offset: Int? = nil, handler: (any PCICapabilityHandler)? = nil) throws(PCIError) -> Int {
        try state.withLock { (s: inout State) throws(PCIError) -> Int in
            let placed: Int
            if let offset {
                guard offset % 4 == 0 else { throw .capabilityMisaligned(offset: offset) }
                guard length >= 2, offset >= 0x40, offset + length <= PCIConfigSpace.size else {
                    throw .capabilityOutOfRange(offset: offset, length: length)
                }
                if let other = s.capabilities.first(where: { $0.offset < offset + length && offset < $0.offset + $0.length }) {
                    throw .capabilityOverlap(offset: offset, length: length, existingOffset: other.offset, existingLength: other.length)
                }
                placed = offset
            } else {
                guard length >= 2 else { throw .capabilityOutOfRange(offset: 0x40, length: length) }
                var candidate = 0x40
                for cap in s.capabilities.sorted(by: { $0.offset < $1.offset }) where cap.offset < candidate + length {
                    candidate = max(candidate, (cap.offset + cap.length + 3) & ~3)
                }
                guard candidate + length <= PCIConfigSpace.size else { throw .noRoomForCapability(length: length) }
                placed = candidate
            }
            s.config.set(placed, size: 1, value: UInt32(id))
            // Keep the list in ascending offset order: the pointer at 0x34 names the first.
            s.capabilities.append(Capability(offset: placed, length: length, handler: handler))
            s.capabilities.sort { $0.offset < $1.offset }
            for (i, cap) in s.capabilities.enumerated() {
                let next = i + 1 < s.capabilities.count ? s.capabilities[i + 1].offset : 0
                s.config.set(cap.offset + 1, size: 1, value: UInt32(next))
            }
            s.config.set(PCIRegister.capabilitiesPointer, size: 1, value: UInt32(s.capabilities[0].offset))
            let status = s.config.read(PCIRegister.status, size: 2) | UInt32(PCIStatus.capabilitiesList)
            s.config.set(PCIRegister.status, size: 2, value: status)
            return placed
        }
    }

    /// Sets config bytes as the device (read-only to the guest unless `writableMask` says otherwise).
    public func setConfig(_ offset: Int, size: Int, value: UInt32, writableMask: UInt32 = 0) {
        state.withLock { s in
            s.config.set(offset, size: size, value: value)
            s.config.setWritable(offset, size: size, mask: writableMask)
        }
    }

    /// A config-space read of `size` (1, 2, 4) bytes at `offset` (0…4095; ≥ 256 reads 0).
    public func configRead(offset: Int, size: Int) -> UInt32 {
        state.withLock { s in
            guard offset < PCIConfigSpace.size else { return 0 }
            var value = s.config.read(offset, size: size)
            if let cap = Self.capability(covering: offset, in: s), let handler = cap.handler {
                let relative = offset - cap.offset
                var owned = handler.capabilityRead(offset: relative, size: size)
                // Bytes 0 and 1 of the capability (ID, next) come from the function.
                for byte in 0..<size where relative + byte < 2 {
                    let shift = UInt32(8 * byte)
                    owned = (owned & ~(0xFF << shift)) | (UInt32(s.config.read(offset + byte, size: 1)) << shift)
                }
                value = size >= 4 ? owned : owned & ((1 << UInt32(8 * size)) - 1)
            }
            return value
        }
    }

    /// A config-space write: masks apply; capability ranges go to their handler; BAR and Command
    /// changes remap the BARs.
    public func configWrite(offset: Int, size: Int, value: UInt32) {
        let changedMapping = state.withLock { s -> Bool in
            guard offset < PCIConfigSpace.size else { return false }
            if let cap = Self.capability(covering: offset, in: s), let handler = cap.handler {
                handler.capabilityWrite(offset: offset - cap.offset, size: size, value: value)
                return false
            }
            s.config.guestWrite(offset, size: size, value: value)
            let end = offset + size
            let command = offset < PCIRegister.command + 2 && end > PCIRegister.command
            return command || (offset < 0x28 && end > PCIRegister.bar0)
        }
        if changedMapping { updateMappings() }
    }

    /// Where BAR `index` is mapped now, or nil.
    public func mappedAddress(ofBar index: Int) -> UInt64? {
        guard (0..<6).contains(index) else { return nil }
        return state.withLock { $0.mapped[index] }
    }

    /// The BAR definitions.
    public var bars: [PCIBarDefinition?] { state.withLock { $0.bars } }

    /// The address BAR `index` is programmed with, and whether the guest has made it valid and
    /// decoding: nil when decode is off or the address is not usable.
    func decodedAddress(_ index: Int, in s: State) -> UInt64? {
        guard let bar = s.bars[index] else { return nil }
        let command = UInt16(s.config.read(PCIRegister.command, size: 2))
        let register = PCIRegister.bar0 + 4 * index
        let low = UInt64(s.config.read(register, size: 4))
        switch bar.kind {
        case .io:
            guard command & PCICommand.ioSpace != 0 else { return nil }
            let address = low & 0xFFFF_FFFC
            let sizing = UInt64(UInt32(truncatingIfNeeded: ~(bar.size - 1)) & 0xFFFF_FFFC)
            guard address != 0, address != sizing, address + bar.size <= 0x1_0000 else { return nil }
            return address
        case .memory32, .memory64:
            guard command & PCICommand.memorySpace != 0 else { return nil }
            var address = low & 0xFFFF_FFF0
            var limit: UInt64 = 1 << 32
            var sizing = UInt64(UInt32(truncatingIfNeeded: ~(bar.size - 1)) & 0xFFFF_FFF0)
            if bar.kind == .memory64 {
                address |= UInt64(s.config.read(register + 4, size: 4)) << 32
                limit = 1 << 48
                sizing = ~(bar.size - 1)
            }
            guard address != 0, address != sizing, bar.size <= limit, address <= limit - bar.size else { return nil }
            return address
        }
    }

    /// Brings every BAR's bus mapping in line with its register and the Command decode bits.
    /// When a range went away, the root retries mappings it refused before (an overlap may be
    /// gone); `retrying` keeps a retry that fails again from logging again.
    ///
    /// Also tells the model the Command register's current value: under the same lock, so two
    /// vCPUs writing it at once cannot deliver their values out of order.
    func updateMappings(retrying: Bool = false) {
        let freed = mappingLock.withLock { _ in
            if !retrying, let model { model.commandChanged(UInt16(state.withLock { $0.config.read(PCIRegister.command, size: 2) })) }
            return applyMappings(retrying: retrying)
        }
        if freed, let attachment = attachment.withLock({ $0 }) { attachment.rangesFreed() }
    }

    /// Whether a BAR is decoding at a valid address but not mapped (its range was refused).
    var hasRefusedMapping: Bool {
        state.withLock { s in (0..<6).contains { s.mapped[$0] == nil && decodedAddress($0, in: s) != nil } }
    }

    /// Unmaps every BAR (waiting for accesses in flight) and forgets the buses: the root calls
    /// this when it detaches the function.
    func detachFromBuses() {
        mappingLock.withLock { _ in
            guard let attachment = attachment.withLock({ a in defer { a = nil }; return a }) else { return }
            let mapped: [(Int, UInt64, PCIBarDefinition)] = state.withLock { s in
                defer { s.mapped = Array(repeating: nil, count: 6) }
                return (0..<6).compactMap { i in s.mapped[i].flatMap { m in s.bars[i].map { (i, m, $0) } } }
            }
            for (index, address, bar) in mapped {
                (bar.kind == .io ? attachment.portBus : attachment.mmioBus)?.unregister(base: address)
                model?.barMoved(index, to: nil)
            }
        }
    }

    /// The address the root assigned BAR `index` at attach time.
    func assignedAddress(ofBar index: Int) -> UInt64? {
        guard (0..<6).contains(index) else { return nil }
        return state.withLock { $0.assigned[index] }
    }

    func recordAssignedAddress(_ address: UInt64, ofBar index: Int) {
        state.withLock { $0.assigned[index] = address }
    }

    /// Returns whether a range was unregistered.
    private func applyMappings(retrying: Bool) -> Bool {
        guard let attachment = attachment.withLock({ $0 }), let model else { return false }
        let moves: [(Int, UInt64?, UInt64?, PCIBarDefinition)] = state.withLock { s in
            (0..<6).compactMap { i in
                guard let bar = s.bars[i] else { return nil }
                let wanted = decodedAddress(i, in: s)
                return wanted == s.mapped[i] ? nil : (i, s.mapped[i], wanted, bar)
            }
        }
        var freed = false
        for (index, old, new, bar) in moves {
            guard let bus = bar.kind == .io ? attachment.portBus : attachment.mmioBus else { continue }
            if let old {
                bus.unregister(base: old)
                freed = true
            }
            var placed: UInt64? = nil
            if let new {
                do {
                    try bus.register(PCIBarRegion(model: model, bar: index), name: "\(name) BAR\(index)", base: new, size: bar.size)
                    placed = new
                } catch {
                    if !retrying { attachment.log("\(name): BAR\(index) not mapped: \(error)") }
                }
            }
            state.withLock { $0.mapped[index] = placed }
            if placed != old { model.barMoved(index, to: placed) }
        }
        return freed
    }

    private static func capability(covering offset: Int, in s: State) -> Capability? {
        s.capabilities.first { offset >= $0.offset && offset < $0.offset + $0.length }
    }
}

/// The machine buses a function's BARs are mapped on, given by `PCIRoot` when it is attached.
///
/// Weak: the machine owns its buses, and the buses hold the config-access devices that hold the
/// root that holds this function; strong references here would make that a cycle and keep every
/// device (and its eventfds) alive after the machine is gone.
struct PCIAttachment: Sendable {
    weak var portBus: Bus?
    weak var mmioBus: Bus?
    let log: @Sendable (String) -> Void
    /// Told when a function unmapped a range, so refused mappings elsewhere can be retried.
    let rangesFreed = PCIRangesFreed()

    init(portBus: Bus, mmioBus: Bus, log: @escaping @Sendable (String) -> Void) {
        self.portBus = portBus
        self.mmioBus = mmioBus
        self.log = log
    }
}

/// A callback set once the root exists (it captures the root weakly).
final class PCIRangesFreed: Sendable {
    private let action = Locked<(@Sendable () -> Void)?>(nil)
    func set(_ action: @escaping @Sendable () -> Void) { self.action.withLock { $0 = action } }
    func callAsFunction() { action.withLock { $0 }?() }
}
