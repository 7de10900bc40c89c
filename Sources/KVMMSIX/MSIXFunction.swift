import Devices
import Interrupts
import KVM
import MSIX
import PCI
import Threads

/// The MSI-X part of a PCI device on KVM, as one building block: the capability, the table and
/// PBA (alone in a BAR, or sharing one with the device's registers), the lock that serialises
/// them, GSI routes and irqfds that follow the guest's mask bits, `KVM_SIGNAL_MSI` for the
/// device's own raises and as the fallback for a vector left without an irqfd, doorbell
/// ioeventfds that move with their BAR, and Bus Master Enable.
///
/// A device model owns one and forwards to it:
/// ```swift
/// final class MyDevice: PCIDeviceModel {
///     let msix: MSIXFunction
///     func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
///         msix.barRead(bar, offset: offset, size: size) ?? myRegisters(offset, size)
///     }
///     func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
///         if !msix.barWrite(bar, offset: offset, size: size, value: value) { … }
///     }
///     func barMoved(_ bar: Int, to address: UInt64?) { msix.barMoved(bar, to: address) }
///     func commandChanged(_ command: UInt16) { msix.commandChanged(command) }
/// }
/// ```
/// and raises a vector with `raise(vector:)` (from the VMM) or `raiseBackend(vector:)` (an event
/// of a backend thread: by irqfd with no exit when the vector is routed).
///
/// Threads: every method may be called from any thread (vCPU threads, backend threads). The
/// function's lock is taken inside each call and never held across a call into the owner; lock
/// order: the PCI function's mapping lock, then this lock, then the router's and the route
/// table's.
public final class MSIXFunction: PCICapabilityHandler, Sendable {
    /// Where the table and PBA live, and whether the BAR holding them holds nothing else.
    public enum Placement: Sendable, Equatable {
        /// Table and PBA alone in BAR `bar`, in QEMU's exclusive-BAR layout; `install` defines
        /// that BAR. Every access to it goes to the MSI-X function.
        case exclusiveBAR(Int)
        /// Table and PBA where `layout` says, in BARs the device defines itself; only accesses
        /// inside the table or the PBA go to the MSI-X function.
        case shared(MSIXLayout)
    }

    /// Doorbells: registers in a BAR of the device (4 bytes wide by default), each caught by a KVM ioeventfd (no
    /// vCPU exit) and handed to `ring` on a backend thread of the function's own.
    ///
    /// A doorbell's ioeventfd is registered the first time the guest rings it (the owner serves
    /// that ring by its exit and calls `doorbellRangByExit`), not up front: each KVM_IOEVENTFD
    /// call costs a kernel synchronisation (~0.2 ms with other vCPUs running), and every BAR move
    /// or decode toggle must remove and add each registered one again. So a guest that moves the
    /// BAR pays only for the doorbells it uses.
    public struct Doorbells: Sendable {
        /// The BAR (0…5) holding the doorbells; `barMoved(_:to:)` for it moves their ioeventfds.
        public var bar: Int
        /// Byte offset of doorbell 0 in that BAR.
        public var offset: UInt64
        /// Bytes from one doorbell to the next (default 4): doorbell i is the 4-byte register at
        /// `offset + stride · i`.
        public var stride: UInt64
        /// Number of doorbells, indices `0 ..< count`; with 0 the function starts no backend thread.
        public var count: Int
        /// Bytes of the guest's write that rings a doorbell (KVM matches an ioeventfd only to
        /// writes of its length): 4 by default, 2 for virtio-pci's 16-bit queue notifications.
        public var width: UInt32
        /// Called on the backend thread with the doorbell's index and how often it rang.
        public var ring: @Sendable (_ index: Int, _ count: UInt64) -> Void

        /// Doorbells `0 ..< count` at `offset + stride · i` in BAR `bar`, rung by writes of
        /// `width` bytes, handed to `ring`.
        public init(bar: Int, offset: UInt64, stride: UInt64 = 4, count: Int, width: UInt32 = 4,
                    ring: @escaping @Sendable (Int, UInt64) -> Void) {
            self.bar = bar
            self.offset = offset
            self.stride = stride
            self.count = count
            self.width = width
            self.ring = ring
        }
    }

    /// What became of a backend raise.
    public enum BackendOutcome: Sendable, Equatable {
        /// Written to the vector's eventfd: injected by the kernel through its irqfd, or held
        /// there while the vector is masked (delivered at unmask, or pended by a PBA read).
        case signaled
        /// The vector is unmasked but has no irqfd (its route or attach was refused): sent
        /// through the MSI-X function with `KVM_SIGNAL_MSI` instead, so it is not stranded.
        case sentBySignal
        /// Dropped: `count` is 0, no such vector, the vector is not in use (use count 0), Bus
        /// Master Enable is clear, or its eventfd could not be made or written (logged).
        case dropped
    }

    /// The function's name in log lines; its doorbell thread is called "`name` doorbells".
    public let name: String
    /// Where the table and PBA live: QEMU's exclusive-BAR layout for `.exclusiveBAR`, the given
    /// layout for `.shared`.
    public let layout: MSIXLayout
    /// The placement the function was made with.
    public let placement: Placement
    /// Where the capability sits in config space.
    public let capabilityOffset: Int
    /// Number of vectors, n (1…2048).
    public var vectorCount: Int { layout.vectorCount }

    let device: Locked<MSIXDevice>
    let sink: KVMMSIXSink
    let router: MSIVectorRouter
    private let vm: KVMVirtualMachine
    private let log: @Sendable (String) -> Void
    private let doorbellSpec: Doorbells?
    private let backend: DoorbellBackend?
    /// Where the doorbell BAR is mapped (nil: unmapped), and which doorbells have their
    /// ioeventfd registered there.
    private struct DoorbellState {
        var base: UInt64?
        var registered: [Bool]
    }
    private let doorbellState: Locked<DoorbellState>

    /// A function that starts as after reset (every vector masked, MSI-X disabled) with its
    /// notifiers set. With doorbells, their thread starts when the guest first rings one (a
    /// failure to start it is logged, and that doorbell stays served by exits). Throws
    /// `MSIXError` for a bad vector count, BAR or capability offset, and `KVMError` when the
    /// doorbells' stop eventfd or epoll set cannot be made.
    ///
    /// - Parameters:
    ///   - name: names the function in log lines and its doorbell thread.
    ///   - vectors: 1…2048 (with `.exclusiveBAR`; a `.shared` layout carries its own count).
    ///   - placement: where the table and PBA live (see `Placement`).
    ///   - capabilityOffset: the capability's offset in config space: at least 0x40, a multiple
    ///     of 4, and 12 bytes within the 256-byte space.
    ///   - vm: the VM that messages, irqfds and doorbell ioeventfds go to.
    ///   - routes: the VM's GSI route table, shared by every MSI-X function of the VM.
    ///   - initialUseCount: each vector's use count at the start (devices whose vectors are
    ///     always in use, as the test device's, pass 1; a device calls `use` as it needs them).
    ///   - doorbells: ioeventfd doorbells; at most ~1000 per VM fit in KVM's bus, so keep it small.
    ///   - log: one line per problem the guest can cause (rate-limit it).
    public init(name: String, vectors: Int, placement: Placement, capabilityOffset: Int,
                vm: KVMVirtualMachine, routes: GSIRouteTable, initialUseCount: UInt32 = 0,
                doorbells: Doorbells? = nil, log: @escaping @Sendable (String) -> Void) throws {
        switch placement {
        case let .exclusiveBAR(bar): layout = try MSIXLayout.exclusiveBAR(vectorCount: vectors, bar: bar)
        case let .shared(layout): self.layout = layout
        }
        self.name = name
        self.placement = placement
        self.capabilityOffset = capabilityOffset
        self.vm = vm
        self.log = log
        router = try MSIVectorRouter(routes: routes, vectorCount: layout.vectorCount)
        sink = KVMMSIXSink(router: router, name: name, log: log)
        let msix = try MSIXDevice(layout: layout, capabilityOffset: capabilityOffset, initialUseCount: initialUseCount, sink: sink)
        try msix.setNotifiers(sink, poll: true)
        device = Locked(msix)
        doorbellSpec = doorbells
        doorbellState = Locked(DoorbellState(base: nil, registered: Array(repeating: false, count: max(0, doorbells?.count ?? 0))))
        if let doorbells, doorbells.count > 0 {
            backend = try DoorbellBackend(count: doorbells.count, name: "\(name) doorbells", ring: doorbells.ring)
        } else {
            backend = nil
        }
    }

    deinit {
        backend?.stop()
    }

    /// Adds the MSI-X capability to `function` (and, for `.exclusiveBAR`, defines that BAR as a
    /// 32-bit memory BAR of the layout's size). Call before attaching the function.
    public func install(on function: PCIFunction) throws(PCIError) {
        if case let .exclusiveBAR(bar) = placement {
            try function.defineBar(bar, PCIBarDefinition(kind: .memory32, size: layout.tableBARSize))
        }
        try function.addCapability(id: MSIXCapability.id, length: MSIXCapability.length, at: capabilityOffset, handler: self)
    }

    /// Stops the doorbell thread (a machine calls this when its run ends). Idempotent.
    public func stop() {
        backend?.stop()
    }

    // MARK: What the owner's PCIDeviceModel forwards

    /// A BAR read for the MSI-X function, or nil when (`bar`, `offset`) is the owner's.
    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64? {
        guard owns(bar, offset, size) else { return nil }
        return device.withLock { $0.read(bar: bar, offset: offset, size: size) }
    }

    /// A BAR write for the MSI-X function; false when (`bar`, `offset`) is the owner's.
    @discardableResult
    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) -> Bool {
        guard owns(bar, offset, size) else { return false }
        device.withLock { $0.write(bar: bar, offset: offset, size: size, value: value) }
        return true
    }

    /// Moves the registered doorbell ioeventfds along with their BAR (nil: unmapped, they are
    /// removed, so a write there while decode is off rings nothing).
    public func barMoved(_ bar: Int, to address: UInt64?) {
        guard let spec = doorbellSpec, let backend, bar == spec.bar else { return }
        doorbellState.withLock { state in
            if let old = state.base {
                for i in 0..<state.registered.count where state.registered[i] {
                    guard let fd = try? backend.doorbell(i) else { continue }
                    try? vm.attachIOEventFD(fd, address: old + spec.offset + spec.stride * UInt64(i), length: spec.width, deassign: true)
                }
            }
            state.base = address
            guard let address else { return }
            for i in 0..<state.registered.count where state.registered[i] {
                state.registered[i] = register(i, at: address, spec: spec, backend: backend)
            }
        }
    }

    /// The owner served doorbell `index` by an exit (no ioeventfd caught it): registers its
    /// ioeventfd, so later rings need no exit. Out of range, or the BAR unmapped: nothing.
    public func doorbellRangByExit(_ index: Int) {
        guard let spec = doorbellSpec, let backend, (0..<spec.count).contains(index) else { return }
        doorbellState.withLock { state in
            guard let base = state.base, !state.registered[index] else { return }
            state.registered[index] = register(index, at: base, spec: spec, backend: backend)
        }
    }

    /// True while the doorbell thread runs: from the first doorbell the guest rings until `stop()`.
    public var doorbellThreadRunning: Bool { backend?.isRunning ?? false }

    /// Descriptors the function holds for its vectors and doorbells (eventfds are made lazily:
    /// an idle function holds only its doorbell thread's two).
    public var eventfdCount: Int { router.eventfdCount + (backend?.eventfdCount ?? 0) }

    /// Doorbell ioeventfds registered now.
    public var registeredDoorbells: Int { doorbellState.withLock { $0.registered.lazy.filter { $0 }.count } }

    /// Adds doorbell `index`'s ioeventfd at `base`; false (logged) when KVM refuses it, and the
    /// doorbell stays served by exits.
    private func register(_ index: Int, at base: UInt64, spec: Doorbells, backend: DoorbellBackend) -> Bool {
        do {
            guard let fd = try backend.doorbell(index) else { return false }
            try vm.attachIOEventFD(fd, address: base + spec.offset + spec.stride * UInt64(index), length: spec.width)
            return true
        } catch {
            log("\(name): doorbell \(index) is served by exits: \(error)")
            return false
        }
    }

    /// Follows Bus Master Enable (Command bit 2): while it is clear nothing is sent (see
    /// MSIXDevice+BusMaster.swift).
    public func commandChanged(_ command: UInt16) {
        device.withLock { $0.setBusMaster(enabled: command & PCICommand.busMaster != 0) }
    }

    /// A config-space read of the capability (`offset` from its first byte, `size` 1, 2 or 4),
    /// under the function's lock; sizes or offsets outside the 12 bytes read all ones.
    public func capabilityRead(offset: Int, size: Int) -> UInt32 {
        device.withLock { $0.capabilityRead(offset: offset, size: size) }
    }

    /// A config-space write of the capability under the function's lock: one covering byte 3
    /// sets Enable and Function Mask, and routes and irqfds follow the vectors whose masked
    /// state changed (at most one routing commit).
    public func capabilityWrite(offset: Int, size: Int, value: UInt32) {
        device.withLock { $0.capabilityWrite(offset: offset, size: size, value: value) }
    }

    // MARK: Raising

    /// The VMM raises `vector`: `KVM_SIGNAL_MSI` when unmasked, its pending bit when masked;
    /// dropped when unused, out of range or while Bus Master Enable is clear.
    @discardableResult
    public func raise(vector: Int) -> MSIXNotifyOutcome {
        device.withLock { $0.notify(vector: vector) }
    }

    /// A backend event on `vector`, `count` times (an eventfd coalesces them): written to the
    /// vector's eventfd, so a routed vector is injected by the kernel with no exit.
    ///
    /// An unmasked vector normally has its irqfd attached. When its use notifier failed (the
    /// route table is full) or its irqfd could not be attached, a count in the eventfd would never
    /// be delivered while the vector stays unmasked, so the raise goes through the MSI-X function
    /// instead (`KVM_SIGNAL_MSI`), as design.md's fifth difference asks. Masked vectors keep the
    /// count in the eventfd until unmask or a PBA poll. With Bus Master Enable clear the event is
    /// dropped rather than left to inject once an irqfd is attached, and so is an event on a
    /// vector not in use (use count 0), as `raise` drops it; neither makes an eventfd.
    @discardableResult
    public func raiseBackend(vector: Int, count: UInt64 = 1) -> BackendOutcome {
        guard count > 0 else { return .dropped }
        return device.withLock { device in
            // Judged before an eventfd is made for the vector: a raise that cannot be delivered
            // costs no descriptor.
            guard device.isBusMasterEnabled, device.useCount(vector: vector) > 0 else { return .dropped }
            if !device.isMasked(vector: vector) && !router.isAttached(vector) {
                return device.notify(vector: vector) == .sent ? .sentBySignal : .dropped
            }
            do {
                try router.signal(vector, count: count)
            } catch {
                log("\(name): backend signal of vector \(vector) failed: \(error)")
                return .dropped
            }
            return .signaled
        }
    }

    /// Use count + 1 (a device's driver-visible "vector in use"); false when out of range.
    @discardableResult
    public func use(vector: Int) -> Bool { device.withLock { $0.use(vector: vector) } }

    /// Use count − 1 (at 0 its pending bit clears; a count already 0 stays 0); false when out
    /// of range.
    @discardableResult
    public func unuse(vector: Int) -> Bool { device.withLock { $0.unuse(vector: vector) } }

    /// `vector`'s use count (0 for a vector out of range).
    public func useCount(vector: Int) -> UInt32 { device.withLock { $0.useCount(vector: vector) } }

    /// Vectors whose use count is above 0.
    public var vectorsInUse: Int { device.withLock { d in (0..<d.layout.vectorCount).filter { d.useCount(vector: $0) > 0 }.count } }

    /// The MSI-X state (table, PBA, Message Control), for saving a device.
    public func snapshot() -> MSIXSnapshot { device.withLock { $0.snapshot() } }

    /// Device reset of the MSI-X state: vectors in use are released, everything masked.
    public func reset() { device.withLock { $0.reset() } }

    /// Restores a snapshot taken of a function of the same layout.
    public func restore(_ snapshot: MSIXSnapshot) throws(MSIXError) {
        try device.withLock { (d: inout MSIXDevice) throws(MSIXError) in try d.restore(snapshot) }
    }

    /// Snapshot, reset and restore as one step under the lock (exercises restore).
    public func saveResetRestore() throws(MSIXError) {
        try device.withLock { (d: inout MSIXDevice) throws(MSIXError) in
            let saved = d.snapshot()
            d.reset()
            try d.restore(saved)
        }
    }

    // MARK: Figures

    /// Messages sent with `KVM_SIGNAL_MSI` since the function was made (pending bits delivered
    /// at unmask included).
    public var messagesSignaled: UInt64 { sink.signaledTotal.load(ordering: .relaxed) }
    /// The MSI-X function's counters (invalid accesses, drops, …).
    public var counters: MSIXCounters { device.withLock { $0.counters } }
    /// irqfds attached now.
    public var attachedIRQFDs: Int { router.attachedCount }

    /// Vectors in use whose irqfd waits for the route table's next commit (0 under an immediate
    /// policy once a guest access ends); their events go out by `KVM_SIGNAL_MSI` meanwhile.
    public var vectorsWaitingForRoutes: Int { router.waitingCount }

    /// Whether an access belongs to the MSI-X function.
    private func owns(_ bar: Int, _ offset: UInt64, _ size: Int) -> Bool {
        switch placement {
        case let .exclusiveBAR(b):
            return bar == b
        case .shared:
            let last = offset &+ UInt64(max(1, size)) &- 1
            guard last >= offset else { return false }
            func inside(_ p: MSIXPlacement, _ length: UInt64) -> Bool { bar == p.bar && offset >= p.offset && last < p.offset + length }
            return inside(layout.table, layout.tableSize) || inside(layout.pba, layout.pbaSize)
        }
    }
}
