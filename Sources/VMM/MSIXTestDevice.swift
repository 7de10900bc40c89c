import Devices
import Interrupts
import KVM
import MSIX
import PCI
import Synchronization

/// The MSI-X test device of design.md: a PCI function made for guests to test MSI-X delivery.
///
/// BAR0 holds the registers of `MSIXTestDeviceRegister`; BAR1 holds the MSI-X table and PBA in
/// QEMU's exclusive-BAR layout. Raises take three paths:
/// - RAISE: the VMM raises the vector through the MSI-X function (`KVM_SIGNAL_MSI` when
///   unmasked, else a pending bit);
/// - RAISE_BACKEND: the backend writes the vector's eventfd (irqfd when in use, else held);
/// - DOORBELL[v]: a KVM ioeventfd wakes the backend thread, which writes the vector's eventfd,
///   with no vCPU exit. Vectors past `ioeventfdLimit` (KVM allows about 1000 ioeventfds per bus)
///   have their doorbell served by an ordinary exit instead, with the same effect.
public final class MSIXTestDevice: PCIDeviceModel, PCICapabilityHandler {
    public static let vendorID: UInt16 = 0x5357
    public static let deviceID: UInt16 = 0x0001
    public static let classCode: UInt32 = 0xFF_0000
    /// Where the MSI-X capability sits in config space.
    public static let capabilityOffset = 0x40
    /// Vectors whose doorbell gets its own ioeventfd.
    public static let ioeventfdLimit = 256

    public let vectorCount: Int
    let msix: Mutex<MSIXDevice>
    let sink: KVMMSIXSink
    let router: MSIVectorRouter
    let backend: DoorbellBackend
    private let vm: KVMVirtualMachine
    private let log: @Sendable (String) -> Void
    private let name: String
    private let backendCount = Atomic<UInt64>(0)
    private let pendedCount = Atomic<UInt64>(0)
    private let droppedCount = Atomic<UInt64>(0)
    /// Backend signals since the device was made (RESET_COUNTS does not clear it).
    private let backendTotal = Atomic<UInt64>(0)
    /// Where the doorbell ioeventfds are registered now (BAR0's address), if anywhere.
    private let doorbellBase = Mutex<UInt64?>(nil)

    /// A device with `vectors` MSI-X vectors (1…2048) whose interrupts go to `vm` through `routes`.
    public init(name: String, vectors: Int, vm: KVMVirtualMachine, routes: GSIRouteTable,
                log: @escaping @Sendable (String) -> Void) throws {
        self.name = name
        self.vm = vm
        self.log = log
        vectorCount = vectors
        let layout = try MSIXLayout.exclusiveBAR(vectorCount: vectors, bar: 1)
        router = try MSIVectorRouter(vm: vm, routes: routes, vectorCount: vectors)
        sink = KVMMSIXSink(router: router, name: name, log: log)
        let device = try MSIXDevice(layout: layout, capabilityOffset: Self.capabilityOffset, initialUseCount: 1, sink: sink)
        try device.setNotifiers(sink, poll: true)
        msix = Mutex(device)
        backend = try DoorbellBackend(count: min(vectors, Self.ioeventfdLimit))
        try backend.start(name: "\(name) backend") { [weak self] vector, count in
            self?.raiseBackend(vector: vector, count: count)
        }
    }

    /// A PCI function for this device: its identity, BAR0 (registers), BAR1 (MSI-X table and PBA)
    /// and the MSI-X capability. The function holds the device; the device does not hold the
    /// function (no cycle), so attach the function to keep both alive.
    public func makeFunction() throws -> PCIFunction {
        let function = PCIFunction(name: name, identity: .init(vendorID: Self.vendorID, deviceID: Self.deviceID, classCode: Self.classCode),
                                   model: self)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: MSIXTestDeviceRegister.barSize))
        try function.defineBar(1, PCIBarDefinition(kind: .memory32, size: MSIXLayout.exclusiveBARSize(vectorCount: vectorCount)))
        try function.addCapability(id: MSIXCapability.id, length: MSIXCapability.length, at: Self.capabilityOffset, handler: self)
        return function
    }

    deinit {
        backend.stop()
    }

    /// Stops the backend thread (the machine calls this when its run ends).
    public func stop() {
        backend.stop()
    }

    // MARK: BARs

    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        if bar == 1 { return msix.withLock { $0.read(bar: 1, offset: offset, size: size) } }
        guard size == 4, offset % 4 == 0 else { return allOnes(size: size) }
        typealias R = MSIXTestDeviceRegister
        let value: UInt32
        switch offset {
        case R.magic: value = R.magicValue
        case R.version: value = R.versionValue
        case R.vectors: value = UInt32(vectorCount)
        case R.features: value = R.featureBackend | R.featureDoorbells
        case R.countSignaled: value = UInt32(truncatingIfNeeded: sink.signaled.load(ordering: .relaxed))
        case R.countBackend: value = UInt32(truncatingIfNeeded: backendCount.load(ordering: .relaxed))
        case R.countPended: value = UInt32(truncatingIfNeeded: pendedCount.load(ordering: .relaxed))
        case R.countDropped: value = UInt32(truncatingIfNeeded: droppedCount.load(ordering: .relaxed))
        default: value = 0
        }
        return UInt64(value)
    }

    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        if bar == 1 { return msix.withLock { $0.write(bar: 1, offset: offset, size: size, value: value) } }
        guard size == 4, offset % 4 == 0 else { return }
        typealias R = MSIXTestDeviceRegister
        let v = Int(truncatingIfNeeded: value & 0xFFFF_FFFF)
        switch offset {
        case R.raise: raise(vector: v)
        case R.raiseBackend: raiseBackend(vector: v, count: 1)
        case R.use: _ = msix.withLock { $0.use(vector: v) }
        case R.unuse: _ = msix.withLock { $0.unuse(vector: v) }
        case R.resetCounts:
            sink.signaled.store(0, ordering: .relaxed)
            backendCount.store(0, ordering: .relaxed)
            pendedCount.store(0, ordering: .relaxed)
            droppedCount.store(0, ordering: .relaxed)
        case R.saveRestore: saveResetRestore()
        case R.doorbells..<(R.doorbells + 4 * UInt64(vectorCount)):
            // Reached only for doorbells without an ioeventfd (or before one is registered).
            raiseBackend(vector: Int((offset - R.doorbells) / 4), count: 1)
        default: break
        }
    }

    /// Follows Bus Master Enable: while it is clear the MSI-X function sends nothing (routes
    /// released, raises dropped; see MSIXDevice+BusMaster.swift).
    public func commandChanged(_ command: UInt16) {
        msix.withLock { $0.setBusMaster(enabled: command & PCICommand.busMaster != 0) }
    }

    public func barMoved(_ bar: Int, to address: UInt64?) {
        guard bar == 0 else { return }
        doorbellBase.withLock { base in
            if let old = base {
                for (v, fd) in backend.doorbells.enumerated() {
                    guard let fd else { continue }
                    try? vm.attachIOEventFD(fd, address: old + MSIXTestDeviceRegister.doorbells + 4 * UInt64(v), length: 4, deassign: true)
                }
            }
            base = nil
            guard let address else { return }
            for (v, fd) in backend.doorbells.enumerated() {
                guard let fd else { continue }
                do {
                    try vm.attachIOEventFD(fd, address: address + MSIXTestDeviceRegister.doorbells + 4 * UInt64(v), length: 4)
                } catch {
                    log("\(name): doorbell \(v) is served by exits: \(error)")
                }
            }
            base = address
        }
    }

    // MARK: Capability

    public func capabilityRead(offset: Int, size: Int) -> UInt32 {
        msix.withLock { $0.capabilityRead(offset: offset, size: size) }
    }

    public func capabilityWrite(offset: Int, size: Int, value: UInt32) {
        msix.withLock { $0.capabilityWrite(offset: offset, size: size, value: value) }
    }

    // MARK: Raising

    /// The VMM raises `vector` through the MSI-X function (RAISE).
    public func raise(vector: Int) {
        let outcome = msix.withLock { $0.notify(vector: vector) }
        switch outcome {
        case .sent: break
        case .pended: pendedCount.add(1, ordering: .relaxed)
        case .droppedUnused, .droppedOutOfRange, .droppedBusMaster: droppedCount.add(1, ordering: .relaxed)
        }
    }

    /// The backend signals `vector`'s eventfd `count` times (RAISE_BACKEND, doorbells).
    ///
    /// An unmasked vector normally has its irqfd attached, and the kernel injects the interrupt.
    /// When its use notifier failed (the route table is full) or its irqfd could not be attached,
    /// a count in the eventfd would never be delivered while the vector stays unmasked, so the
    /// raise goes through the MSI-X function instead (`KVM_SIGNAL_MSI`), as design.md's fifth
    /// difference asks. Masked vectors keep the count in the eventfd until unmask or a PBA poll.
    public func raiseBackend(vector: Int, count: UInt64) {
        guard (0..<vectorCount).contains(vector), let fd = try? router.eventfd(for: vector) else {
            droppedCount.add(1, ordering: .relaxed)
            return
        }
        msix.withLock { device in
            // Bus Master Enable clear: the function may not send, so the backend's event is
            // dropped rather than left in the eventfd to inject once an irqfd is attached.
            guard device.isBusMasterEnabled else {
                droppedCount.add(1, ordering: .relaxed)
                return
            }
            backendCount.add(count, ordering: .relaxed)
            backendTotal.add(count, ordering: .relaxed)
            if !device.isMasked(vector: vector) && !router.isAttached(vector) {
                if count > 0 { _ = device.notify(vector: vector) }  // several signals coalesce, as in an eventfd
                return
            }
            do {
                try fd.signal(count)
            } catch {
                log("\(name): backend signal of vector \(vector) failed: \(error)")
            }
        }
    }

    /// SAVE_RESTORE: snapshot the MSI-X state, reset the function, restore the snapshot.
    func saveResetRestore() {
        msix.withLock { device in
            let snapshot = device.snapshot()
            device.reset()
            do { try device.restore(snapshot) } catch { log("\(name): restore failed: \(error)") }
        }
    }

    /// The MSI-X function's counters (invalid accesses etc.), for tests.
    public var msixCounters: MSIXCounters { msix.withLock { $0.counters } }
    /// Interrupts raised towards the guest since the device was made: messages sent with
    /// KVM_SIGNAL_MSI and backend signals (RESET_COUNTS does not clear it).
    public var interruptsRaised: UInt64 { sink.signaledTotal.load(ordering: .relaxed) + backendTotal.load(ordering: .relaxed) }
    /// irqfds attached now.
    public var attachedIRQFDs: Int { router.attachedCount }
}
