import Interrupts
import KVM
import KVMMSIX
import Memory
import PCI
import Threads
import Virtio

/// The modern virtio-pci transport (virtio 1.2 §4.1) for one `VirtioDevice`: the PCI identity
/// (1AF4:1040+ID, revision 1), the common, notify, ISR, device and PCI-config-window
/// capabilities over BAR0 (`VirtioPCILayout`), feature negotiation, device status and reset,
/// queue setup, and interrupts through an `MSIXFunction` (BAR1): the config vector and one
/// vector per queue, each in use while the driver has it assigned.
///
/// Notifications: queue q's notify register is a doorbell of the MSI-X function. Its first
/// write is served by the exit (and registers the doorbell's ioeventfd); after that a KVM
/// ioeventfd wakes the function's doorbell thread, which serves the queue and raises its vector
/// by irqfd: no vCPU exit on the fast path.
///
/// Queues are served once the status has both FEATURES_OK (which holds only for features that
/// were offered, VERSION_1 among them) and DRIVER_OK.
///
/// A malformed queue or chain (anything `VirtioError` names) sets NEEDS_RESET and raises the
/// config vector; the device serves nothing more until the driver resets it. Nothing the
/// driver writes can crash the VMM: every index, length and address is checked first.
///
/// Threads: register accesses come from vCPU threads, queue service from the doorbell thread
/// (or the vCPU thread of a first ring); one lock serialises them. Lock order: the PCI
/// function's, this one's, the MSI-X function's.
public final class VirtioPCIFunction: PCIDeviceModel {
    /// The device behind the transport.
    public let device: any VirtioDevice
    /// The MSI-X function: vectors 0…queues (one per queue and the config vector).
    public let msix: MSIXFunction
    /// Feature bits offered: the device's, VERSION_1, INDIRECT_DESC and EVENT_IDX.
    public let offeredFeatures: UInt64
    private let name: String
    private let memory: GuestMemory
    private let log: @Sendable (String) -> Void
    private let state: Locked<State>

    struct Queue {
        var size: Int
        let maximum: Int
        var vector = VirtioPCILayout.noVector
        var enabled = false
        var descriptorTable: UInt64 = 0, driverArea: UInt64 = 0, deviceArea: UInt64 = 0
        var ring: SplitVirtqueue?
        init(maximum: Int) {
            size = maximum
            self.maximum = maximum
        }
    }

    struct State {
        var deviceFeatureSelect: UInt32 = 0
        var driverFeatureSelect: UInt32 = 0
        var driverFeatures: UInt64 = 0
        var status: UInt8 = 0
        var generation: UInt8 = 0
        var queueSelect: UInt16 = 0
        var configVector = VirtioPCILayout.noVector
        var isr: UInt8 = 0
        var queues: [Queue]
    }

    /// A transport for `device` whose interrupts go to `vm` through `routes`, and whose queues
    /// live in `memory`. Throws `MSIXError` or `KVMError` when its MSI-X function cannot be made.
    public init(name: String, device: any VirtioDevice, memory: GuestMemory, vm: KVMVirtualMachine, routes: GSIRouteTable,
                log: @escaping @Sendable (String) -> Void) throws {
        self.name = name
        self.device = device
        self.memory = memory
        self.log = log
        offeredFeatures = device.features | VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
        state = Locked(State(queues: device.queueSizes.map { Queue(maximum: $0) }))
        // The doorbell thread holds the transport weakly: it outlives no device.
        let serve = Locked<(@Sendable (Int) -> Void)?>(nil)
        msix = try MSIXFunction(
            name: name, vectors: device.queueSizes.count + 1, placement: .exclusiveBAR(VirtioPCILayout.msixBAR),
            capabilityOffset: VirtioPCILayout.msixCapabilityOffset, vm: vm, routes: routes,
            doorbells: .init(bar: 0, offset: VirtioPCILayout.notify, stride: UInt64(VirtioPCILayout.notifyMultiplier),
                             count: device.queueSizes.count, width: 2) { queue, _ in serve.withLock { $0 }?(queue) },
            log: log)
        serve.withLock { $0 = { [weak self] queue in self?.notified(queue: queue) } }
    }

    /// The PCI function: identity, BAR0, the MSI-X capability and BAR1, the virtio
    /// capabilities. The function holds the transport; attach it to keep both alive.
    public func makeFunction(classCode: UInt32) throws -> PCIFunction {
        var identity = PCIFunction.Identity(vendorID: VirtioPCILayout.vendorID, deviceID: VirtioPCILayout.deviceIDBase + device.deviceID,
                                            classCode: classCode, revision: 1)
        identity.subsystemVendorID = VirtioPCILayout.vendorID
        identity.subsystemID = 0x40 + device.deviceID
        let function = PCIFunction(name: name, identity: identity, model: self)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: VirtioPCILayout.barSize))
        try msix.install(on: function)
        var structures = [
            VirtioStructureCapability(type: .common, bar: 0, offset: UInt32(VirtioPCILayout.common), length: UInt32(VirtioPCILayout.commonSize)),
            VirtioStructureCapability(type: .notify, bar: 0, offset: UInt32(VirtioPCILayout.notify),
                                      length: UInt32(max(1, device.queueSizes.count)) * VirtioPCILayout.notifyMultiplier,
                                      multiplier: VirtioPCILayout.notifyMultiplier),
            VirtioStructureCapability(type: .isr, bar: 0, offset: UInt32(VirtioPCILayout.isr), length: 1),
        ]
        if device.configSize > 0 {
            structures.append(VirtioStructureCapability(type: .device, bar: 0, offset: UInt32(VirtioPCILayout.device), length: UInt32(device.configSize)))
        }
        for capability in structures { try function.addCapability(id: 0x09, length: capability.length, handler: capability) }
        let window = VirtioConfigWindowCapability(
            barSize: { bar in bar == 0 ? VirtioPCILayout.barSize : 0 },
            read: { [weak self] bar, offset, size in self?.barRead(bar, offset: offset, size: size) ?? 0 },
            write: { [weak self] bar, offset, size, value in self?.barWrite(bar, offset: offset, size: size, value: value) })
        try function.addCapability(id: 0x09, length: VirtioConfigWindowCapability.length, handler: window)
        return function
    }

    /// Stops the doorbell thread (the machine calls this when its run ends).
    public func stop() { msix.stop() }

    /// The device status the driver last wrote (NEEDS_RESET included when the device set it).
    public var status: UInt8 { state.withLock { $0.status } }

    // MARK: BARs

    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        if let value = msix.barRead(bar, offset: offset, size: size) { return value }
        guard bar == 0, Self.isAccessWidth(size) else { return 0 }
        switch offset {
        case VirtioPCILayout.common..<(VirtioPCILayout.common + VirtioPCILayout.commonSize):
            return state.withLock { commonRead($0, offset: offset - VirtioPCILayout.common, size: size) }
        case VirtioPCILayout.isr:
            return UInt64(state.withLock { s in defer { s.isr = 0 }; return s.isr })
        case VirtioPCILayout.device..<(VirtioPCILayout.device + UInt64(device.configSize)):
            let at = Int(offset - VirtioPCILayout.device)
            guard at + size <= device.configSize else { return 0 }
            return state.withLock { _ in device.readConfig(offset: at, size: size) }
        default:
            return 0
        }
    }

    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        if msix.barWrite(bar, offset: offset, size: size, value: value) { return }
        guard bar == 0, Self.isAccessWidth(size) else { return }
        let queues = UInt64(device.queueSizes.count)
        switch offset {
        case VirtioPCILayout.common..<(VirtioPCILayout.common + VirtioPCILayout.commonSize):
            let interrupts = state.withLock { commonWrite(&$0, offset: offset - VirtioPCILayout.common, size: size, value: value) }
            raise(interrupts)
        case VirtioPCILayout.device..<(VirtioPCILayout.device + UInt64(device.configSize)):
            let at = Int(offset - VirtioPCILayout.device)
            guard at + size <= device.configSize else { return }
            state.withLock { _ in device.writeConfig(offset: at, size: size, value: value) }
        case VirtioPCILayout.notify..<(VirtioPCILayout.notify + 4 * queues):
            // Reached only before the queue's ioeventfd exists (its first notification).
            let queue = Int((offset - VirtioPCILayout.notify) / UInt64(VirtioPCILayout.notifyMultiplier))
            notified(queue: queue)
            msix.doorbellRangByExit(queue)
        default:
            break
        }
    }

    public func barMoved(_ bar: Int, to address: UInt64?) { msix.barMoved(bar, to: address) }
    public func commandChanged(_ command: UInt16) { msix.commandChanged(command) }

    /// 1, 2, 4 or 8 bytes (tested without an array: this is an exit's path).
    private static func isAccessWidth(_ size: Int) -> Bool { size == 1 || size == 2 || size == 4 || size == 8 }

    // MARK: Common configuration

    /// The common configuration's fields that read back, by offset and width (virtio 1.2 §4.1.4.3).
    private static let commonFields: [(start: UInt64, width: UInt64)] = [
        (CommonConfig.deviceFeatureSelect, 4), (CommonConfig.deviceFeature, 4),
        (CommonConfig.driverFeatureSelect, 4), (CommonConfig.driverFeature, 4),
        (CommonConfig.configMSIXVector, 2), (CommonConfig.numQueues, 2),
        (CommonConfig.deviceStatus, 1), (CommonConfig.configGeneration, 1),
        (CommonConfig.queueSelect, 2), (CommonConfig.queueSize, 2), (CommonConfig.queueMSIXVector, 2),
        (CommonConfig.queueEnable, 2), (CommonConfig.queueNotifyOff, 2),
        (CommonConfig.queueDesc, 8), (CommonConfig.queueDriver, 8), (CommonConfig.queueDevice, 8),
    ]

    /// An access reads the bytes of every field it covers (nothing allocated: this is an exit's path).
    private func commonRead(_ s: State, offset: UInt64, size: Int) -> UInt64 {
        let end = offset + UInt64(size)
        var value: UInt64 = 0
        for (start, width) in Self.commonFields where start < end && start + width > offset {
            let field = commonValue(s, at: start)
            for at in max(start, offset)..<min(start + width, end) {
                value |= ((field >> (8 * (at - start))) & 0xFF) << (8 * (at - offset))
            }
        }
        return value
    }

    /// The value of the common-configuration field at `start`.
    private func commonValue(_ s: State, at start: UInt64) -> UInt64 {
        let q = Int(s.queueSelect) < s.queues.count ? s.queues[Int(s.queueSelect)] : nil
        func word(_ value: UInt64, select: UInt32) -> UInt64 { select < 2 ? (value >> (32 * UInt64(select))) & 0xFFFF_FFFF : 0 }
        switch start {
        case CommonConfig.deviceFeatureSelect: return UInt64(s.deviceFeatureSelect)
        case CommonConfig.deviceFeature: return word(offeredFeatures, select: s.deviceFeatureSelect)
        case CommonConfig.driverFeatureSelect: return UInt64(s.driverFeatureSelect)
        case CommonConfig.driverFeature: return word(s.driverFeatures, select: s.driverFeatureSelect)
        case CommonConfig.configMSIXVector: return UInt64(s.configVector)
        case CommonConfig.numQueues: return UInt64(s.queues.count)
        case CommonConfig.deviceStatus: return UInt64(s.status)
        case CommonConfig.configGeneration: return UInt64(s.generation)
        case CommonConfig.queueSelect: return UInt64(s.queueSelect)
        case CommonConfig.queueSize: return UInt64(q?.size ?? 0)
        case CommonConfig.queueMSIXVector: return UInt64(q?.vector ?? VirtioPCILayout.noVector)
        case CommonConfig.queueEnable: return q?.enabled == true ? 1 : 0
        case CommonConfig.queueNotifyOff: return q == nil ? 0 : UInt64(s.queueSelect)
        case CommonConfig.queueDesc: return q?.descriptorTable ?? 0
        case CommonConfig.queueDriver: return q?.driverArea ?? 0
        case CommonConfig.queueDevice: return q?.deviceArea ?? 0
        default: return 0
        }
    }

    /// What a register write asks to raise afterwards (outside the lock).
    struct Interrupts {
        var config = false
        var queues: [Int] = []
    }

    private func commonWrite(_ s: inout State, offset: UInt64, size: Int, value: UInt64) -> Interrupts {
        var interrupts = Interrupts()
        let q = Int(s.queueSelect)
        let hasQueue = q < s.queues.count
        let setupAllowed = hasQueue && !s.queues[q].enabled
        func halves(_ field: UInt64, base: UInt64) -> UInt64 {
            switch (offset - base, size) {
            case (0, 8): value
            case (0, 4): field & 0xFFFF_FFFF_0000_0000 | value & 0xFFFF_FFFF
            case (4, 4): field & 0xFFFF_FFFF | value << 32
            default: field
            }
        }
        switch offset {
        case CommonConfig.deviceFeatureSelect where size == 4: s.deviceFeatureSelect = UInt32(truncatingIfNeeded: value)
        case CommonConfig.driverFeatureSelect where size == 4: s.driverFeatureSelect = UInt32(truncatingIfNeeded: value)
        case CommonConfig.driverFeature where size == 4:
            guard s.status & VirtioStatus.featuresOK == 0, s.driverFeatureSelect < 2 else { break }
            let shift = 32 * UInt64(s.driverFeatureSelect)
            s.driverFeatures = s.driverFeatures & ~(0xFFFF_FFFF << shift) | (value & 0xFFFF_FFFF) << shift
        case CommonConfig.configMSIXVector where size == 2:
            s.configVector = assign(UInt16(truncatingIfNeeded: value), replacing: s.configVector)
        case CommonConfig.deviceStatus where size == 1:
            let status = UInt8(truncatingIfNeeded: value)
            if status == 0 {
                reset(&s)
                break
            }
            var accepted = status
            if status & VirtioStatus.featuresOK != 0 && s.status & VirtioStatus.featuresOK == 0 {
                // FEATURES_OK holds only for a subset of what was offered, with VERSION_1.
                let fine = s.driverFeatures & ~offeredFeatures == 0 && s.driverFeatures & VirtioFeature.version1 != 0
                if !fine { accepted &= ~VirtioStatus.featuresOK }
            }
            s.status = accepted | s.status & VirtioStatus.needsReset
            if s.status & VirtioStatus.driverOK != 0 && s.status & VirtioStatus.featuresOK != 0 {
                // Chains made available before DRIVER_OK are served now (their notification came early).
                interrupts.queues = s.queues.indices.filter { s.queues[$0].enabled }
            }
        case CommonConfig.queueSelect where size == 2: s.queueSelect = UInt16(truncatingIfNeeded: value)
        case CommonConfig.queueSize where size == 2 && setupAllowed: s.queues[q].size = Int(value & 0xFFFF)
        case CommonConfig.queueMSIXVector where size == 2 && hasQueue:
            s.queues[q].vector = assign(UInt16(truncatingIfNeeded: value), replacing: s.queues[q].vector)
        case CommonConfig.queueEnable where size == 2 && setupAllowed && value & 0xFFFF == 1:
            let queue = s.queues[q]
            do throws(VirtioError) {
                s.queues[q].ring = try SplitVirtqueue(index: q, size: queue.size, maximum: queue.maximum, descriptorTable: queue.descriptorTable,
                                                      driverArea: queue.driverArea, deviceArea: queue.deviceArea,
                                                      features: s.driverFeatures, memory: memory)
                s.queues[q].enabled = true
            } catch {
                interrupts.config = fail(&s, error)
            }
        case CommonConfig.queueDesc..<(CommonConfig.queueDesc + 8) where setupAllowed:
            s.queues[q].descriptorTable = halves(s.queues[q].descriptorTable, base: CommonConfig.queueDesc)
        case CommonConfig.queueDriver..<(CommonConfig.queueDriver + 8) where setupAllowed:
            s.queues[q].driverArea = halves(s.queues[q].driverArea, base: CommonConfig.queueDriver)
        case CommonConfig.queueDevice..<(CommonConfig.queueDevice + 8) where setupAllowed:
            s.queues[q].deviceArea = halves(s.queues[q].deviceArea, base: CommonConfig.queueDevice)
        default:
            break
        }
        return interrupts
    }

    /// A vector the driver assigns: in use from now on (the previous one released); a vector
    /// the MSI-X table does not have reads back as NO_VECTOR, as the specification asks.
    private func assign(_ vector: UInt16, replacing old: UInt16) -> UInt16 {
        guard vector != old else { return old }
        if old != VirtioPCILayout.noVector { msix.unuse(vector: Int(old)) }
        guard vector != VirtioPCILayout.noVector, Int(vector) < msix.vectorCount, msix.use(vector: Int(vector)) else {
            return VirtioPCILayout.noVector
        }
        return vector
    }

    /// Device reset: every vector released, queues and features forgotten, status 0.
    private func reset(_ s: inout State) {
        if s.configVector != VirtioPCILayout.noVector { msix.unuse(vector: Int(s.configVector)) }
        for queue in s.queues where queue.vector != VirtioPCILayout.noVector { msix.unuse(vector: Int(queue.vector)) }
        s = State(queues: device.queueSizes.map { Queue(maximum: $0) })
        device.reset()
    }

    /// Marks the device NEEDS_RESET for `error` (logged) and asks for the config interrupt.
    private func fail(_ s: inout State, _ error: VirtioError) -> Bool {
        log("\(name): \(error); the device needs a reset")
        guard s.status & VirtioStatus.needsReset == 0 else { return false }
        s.status |= VirtioStatus.needsReset
        s.isr |= 2
        s.generation &+= 1
        return true
    }

    // MARK: Queues

    /// Serves every chain queue `queue` has available (on the doorbell thread, or on the vCPU
    /// thread of a first notification), then raises its vector when the driver wants it.
    func notified(queue: Int) {
        let interrupts: Interrupts = state.withLock { s in
            var interrupts = Interrupts()
            guard queue >= 0, queue < s.queues.count, s.queues[queue].enabled, var ring = s.queues[queue].ring,
                  s.status & (VirtioStatus.driverOK | VirtioStatus.featuresOK) == VirtioStatus.driverOK | VirtioStatus.featuresOK,
                  s.status & VirtioStatus.needsReset == 0 else { return interrupts }
            var completed = false
            do throws(VirtioError) {
                repeat {
                    while let chain = try ring.next() {
                        let written = try device.serve(queue: queue, chain: chain, memory: memory, features: s.driverFeatures)
                        ring.complete(chain, written: written)
                        completed = true
                    }
                } while ring.armNotifications()
            } catch {
                interrupts.config = fail(&s, error)
            }
            s.queues[queue].ring = ring
            if completed && ring.needsInterrupt() {
                s.isr |= 1
                interrupts.queues = [queue]
            }
            return interrupts
        }
        raise(interrupts, served: true)
    }

    /// Raises what a register write or a queue's service asked for. After a register write
    /// (`served` false) the listed queues are served first.
    private func raise(_ interrupts: Interrupts, served: Bool = false) {
        if interrupts.config, let vector = state.withLock({ $0.configVector == VirtioPCILayout.noVector ? nil : $0.configVector }) {
            msix.raiseBackend(vector: Int(vector))
        }
        for queue in interrupts.queues {
            guard served else { notified(queue: queue); continue }
            if let vector = state.withLock({ $0.queues[queue].vector == VirtioPCILayout.noVector ? nil : $0.queues[queue].vector }) {
                msix.raiseBackend(vector: Int(vector))
            }
        }
    }
}
