import Devices
import Interrupts
import KVM
import KVMMSIX
import MSIX
import PCI
import Synchronization
import Threads

/// The MSI-X test device of design.md: a PCI function made for guests to test MSI-X delivery.
///
/// BAR0 holds the registers of `MSIXTestDeviceRegister`; BAR1 holds the MSI-X table and PBA in
/// QEMU's exclusive-BAR layout. Everything MSI-X is an `MSIXFunction`; this type is only its
/// registers. Raises take three paths:
/// - RAISE: the VMM raises the vector through the MSI-X function (`KVM_SIGNAL_MSI` when
///   unmasked, else a pending bit);
/// - RAISE_BACKEND: the backend writes the vector's eventfd (irqfd when in use, else held);
/// - DOORBELL[v]: a KVM ioeventfd wakes the function's doorbell thread, which raises v as a
///   backend event, with no vCPU exit. The first ring of each doorbell is served by its exit and
///   registers the ioeventfd; vectors past `ioeventfdLimit` (KVM allows about 1000 ioeventfds
///   per bus) are always served by exits. The effect is the same either way.
public final class MSIXTestDevice: PCIDeviceModel {
    /// The PCI vendor ID, 0x5357.
    public static let vendorID: UInt16 = 0x5357
    /// The PCI device ID, 0x0001.
    public static let deviceID: UInt16 = 0x0001
    /// The 24-bit class code: 0xFF0000 (class "unassigned", subclass and interface 0).
    public static let classCode: UInt32 = 0xFF_0000
    /// Where the MSI-X capability sits in config space.
    public static let capabilityOffset = 0x40
    /// Vectors whose doorbell gets its own ioeventfd.
    public static let ioeventfdLimit = 256

    /// MSI-X vectors of the device (1…2048), as VECTORS reads.
    public let vectorCount: Int
    /// The device's MSI-X function (capability, table and PBA in BAR1, routing, doorbells).
    public let msix: MSIXFunction
    private let name: String
    private let log: @Sendable (String) -> Void
    private let backendCount = Atomic<UInt64>(0)
    private let pendedCount = Atomic<UInt64>(0)
    private let droppedCount = Atomic<UInt64>(0)
    /// `msix.messagesSignaled` when RESET_COUNTS was last written.
    private let signaledBase = Atomic<UInt64>(0)
    /// Backend signals since the device was made (RESET_COUNTS does not clear it).
    private let backendTotal = Atomic<UInt64>(0)

    /// A device with `vectors` MSI-X vectors (1…2048) whose interrupts go to `vm` through `routes`.
    public init(name: String, vectors: Int, vm: KVMVirtualMachine, routes: GSIRouteTable,
                log: @escaping @Sendable (String) -> Void) throws {
        self.name = name
        self.log = log
        vectorCount = vectors
        // The doorbell thread outlives no device: it holds the device weakly.
        let raiseLater = Locked<(@Sendable (Int, UInt64) -> Void)?>(nil)
        msix = try MSIXFunction(
            name: name, vectors: vectors, placement: .exclusiveBAR(1), capabilityOffset: Self.capabilityOffset,
            vm: vm, routes: routes, initialUseCount: 1,
            doorbells: .init(bar: 0, offset: MSIXTestDeviceRegister.doorbells, count: min(vectors, Self.ioeventfdLimit)) { v, n in
                raiseLater.withLock { $0 }?(v, n)
            },
            log: log)
        raiseLater.withLock { $0 = { [weak self] v, n in self?.raiseBackend(vector: v, count: n) } }
    }

    /// A PCI function for this device: its identity, BAR0 (registers), BAR1 (MSI-X table and PBA)
    /// and the MSI-X capability. The function holds the device; the device does not hold the
    /// function (no cycle), so attach the function to keep both alive.
    public func makeFunction() throws -> PCIFunction {
        let function = PCIFunction(name: name, identity: .init(vendorID: Self.vendorID, deviceID: Self.deviceID, classCode: Self.classCode),
                                   model: self)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: MSIXTestDeviceRegister.barSize))
        try msix.install(on: function)
        return function
    }

    /// Stops the doorbell thread (the machine calls this when its run ends).
    public func stop() {
        msix.stop()
    }

    // MARK: BARs

    /// A guest read of a BAR: BAR1 (table, PBA) goes to the MSI-X function; in BAR0 a 4-byte
    /// aligned read returns a register (0 where there is none) and any other access all ones.
    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        if let value = msix.barRead(bar, offset: offset, size: size) { return value }
        guard size == 4, offset % 4 == 0 else { return allOnes(size: size) }
        typealias R = MSIXTestDeviceRegister
        let value: UInt32
        switch offset {
        case R.magic: value = R.magicValue
        case R.version: value = R.versionValue
        case R.vectors: value = UInt32(vectorCount)
        case R.features: value = R.featureBackend | R.featureDoorbells
        case R.countSignaled: value = UInt32(truncatingIfNeeded: msix.messagesSignaled &- signaledBase.load(ordering: .relaxed))
        case R.countBackend: value = UInt32(truncatingIfNeeded: backendCount.load(ordering: .relaxed))
        case R.countPended: value = UInt32(truncatingIfNeeded: pendedCount.load(ordering: .relaxed))
        case R.countDropped: value = UInt32(truncatingIfNeeded: droppedCount.load(ordering: .relaxed))
        case R.routesWaiting: value = UInt32(truncatingIfNeeded: msix.vectorsWaitingForRoutes)
        default: value = 0
        }
        return UInt64(value)
    }

    /// A guest write to a BAR: BAR1 goes to the MSI-X function; in BAR0 only 4-byte aligned
    /// writes act (RAISE, USE, RESET_COUNTS, a DOORBELL served by its exit, …); others are ignored.
    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        if msix.barWrite(bar, offset: offset, size: size, value: value) { return }
        guard size == 4, offset % 4 == 0 else { return }
        typealias R = MSIXTestDeviceRegister
        let v = Int(truncatingIfNeeded: value & 0xFFFF_FFFF)
        switch offset {
        case R.raise: raise(vector: v)
        case R.raiseBackend: raiseBackend(vector: v, count: 1)
        case R.use: msix.use(vector: v)
        case R.unuse: msix.unuse(vector: v)
        case R.resetCounts:
            signaledBase.store(msix.messagesSignaled, ordering: .relaxed)
            backendCount.store(0, ordering: .relaxed)
            pendedCount.store(0, ordering: .relaxed)
            droppedCount.store(0, ordering: .relaxed)
        case R.saveRestore: saveResetRestore()
        case R.doorbells..<(R.doorbells + 4 * UInt64(vectorCount)):
            // Reached only for doorbells without an ioeventfd: the first ring of each (which
            // registers it), and those past `ioeventfdLimit`.
            let vector = Int((offset - R.doorbells) / 4)
            raiseBackend(vector: vector, count: 1)
            msix.doorbellRangByExit(vector)
        default: break
        }
    }

    public func barMoved(_ bar: Int, to address: UInt64?) {
        msix.barMoved(bar, to: address)
    }

    public func commandChanged(_ command: UInt16) {
        msix.commandChanged(command)
    }

    // MARK: Raising

    /// The VMM raises `vector` through the MSI-X function (RAISE).
    public func raise(vector: Int) {
        switch msix.raise(vector: vector) {
        case .sent: break
        case .pended: pendedCount.add(1, ordering: .relaxed)
        case .droppedUnused, .droppedOutOfRange, .droppedBusMaster: droppedCount.add(1, ordering: .relaxed)
        }
    }

    /// The backend signals `vector` `count` times (RAISE_BACKEND, doorbells).
    public func raiseBackend(vector: Int, count: UInt64) {
        switch msix.raiseBackend(vector: vector, count: count) {
        case .signaled:
            backendCount.add(count, ordering: .relaxed)
            backendTotal.add(count, ordering: .relaxed)
        case .sentBySignal:
            // The message went out by KVM_SIGNAL_MSI, which `messagesSignaled` counts already.
            backendCount.add(count, ordering: .relaxed)
        case .dropped:
            droppedCount.add(1, ordering: .relaxed)
        }
    }

    /// SAVE_RESTORE: snapshot the MSI-X state, reset the function, restore the snapshot.
    func saveResetRestore() {
        do { try msix.saveResetRestore() } catch { log("\(name): restore failed: \(error)") }
    }

    /// The MSI-X function's counters (invalid accesses etc.), for tests.
    public var msixCounters: MSIXCounters { msix.counters }
    /// Interrupts raised towards the guest since the device was made: messages sent with
    /// KVM_SIGNAL_MSI and backend signals (RESET_COUNTS does not clear it).
    public var interruptsRaised: UInt64 { msix.messagesSignaled + backendTotal.load(ordering: .relaxed) }
    /// irqfds attached now.
    public var attachedIRQFDs: Int { msix.attachedIRQFDs }
}
