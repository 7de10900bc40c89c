import KVM
import Threads

/// One device's MSI vectors on KVM: a GSI route and an irqfd per vector in use, and
/// `KVM_SIGNAL_MSI` for messages the VMM sends itself.
///
/// A vector has a backend eventfd only while it needs one: while it is in use (its use notifier
/// fired and it was not released), while the eventfd holds events raised while the vector was
/// masked, or for good once a backend took it with `eventfd(for:)`. Released, an eventfd that
/// holds nothing and that no backend holds is closed, so an idle 2048-vector device holds no
/// descriptor for its vectors, and one whose vectors were all unmasked and masked again holds
/// none either. While the vector is in use the eventfd is attached as an irqfd to the vector's
/// GSI, so a backend's write injects the interrupt in the kernel with no exit. Otherwise writes
/// (`signal(_:count:)`) accumulate in it; attaching an irqfd to an eventfd that already holds a
/// count injects at once, which is how events raised while masked arrive on unmask, and a poll
/// (`takeHeldSignals`) empties and closes it.
///
/// Order of updates, and why:
/// 1. `release(v)` detaches v's irqfd at once, before the routing table changes, so the kernel
///    never injects through a GSI whose route is being removed or rewritten.
/// 2. `use(v, message)` only records the route (allocating v's GSI on its first use).
/// 3. `commit()` asks the table to commit (`GSIRouteTable.requestCommit`). An irqfd is attached
///    only once KVM has the vector's route (the table's committed serial reaches the serial of
///    the vector's route), by the table's listener, so an irqfd never points at a GSI whose route
///    KVM does not have yet.
/// 4. Under a coalescing policy the commit may come later, after many guest accesses. A vector
///    waiting for it is live all the same: the function sends its events by `KVM_SIGNAL_MSI`
///    while `isAttached` is false, and `commit()` sends at once, by `KVM_SIGNAL_MSI`, any count
///    its eventfd held from while it was masked (taking it out of the eventfd, so the irqfd
///    attached later cannot inject it again). Each event thus goes out once: by the eventfd
///    while attached, by `KVM_SIGNAL_MSI` otherwise.
public final class MSIVectorRouter: Sendable {
    struct Vector {
        var eventfd: EventFD?
        var gsi: UInt32?
        var inUse = false
        var attached = false
        /// A backend holds the eventfd (`eventfd(for:)`): kept for the router's life.
        var pinned = false
        /// In the attach queue now.
        var queued = false
        /// The message of the route, while in use.
        var address: UInt64 = 0
        var data: UInt32 = 0
    }

    struct State {
        var vectors: [Vector]
        /// Vectors in use waiting for KVM to have their route: (vector, serial of the route).
        var attachQueue: [(vector: Int, serial: UInt64)] = []
        /// Vectors used since the last `commit()` (rule 4 looks only at these).
        var usedSinceCommit: [Int] = []
        /// The first attach failure since the last `commit()` (which throws it).
        var attachError: (any Error)?
    }

    /// Where irqfds are attached and `KVM_SIGNAL_MSI` goes: the route table's VM.
    public var vm: any MSIInjector { routes.injector }
    /// The VM-wide route table the vectors take their GSIs from, shared with other devices.
    public let routes: GSIRouteTable
    /// How many vectors the device has; vector numbers run from 0 to `vectorCount - 1`.
    public let vectorCount: Int
    /// Whether the VM takes 32-bit destinations (read once: KVM's x2APIC API is enabled before
    /// any vCPU, so before any device exists).
    private let extendedDestinations: Bool
    private let state: Locked<State>
    private let listener = Locked(0)

    /// A router for `vectorCount` vectors of a device on the VM of `routes`; eventfds and GSIs
    /// come when vectors are first used.
    public init(routes: GSIRouteTable, vectorCount: Int) throws {
        self.routes = routes
        self.vectorCount = vectorCount
        extendedDestinations = routes.injector.uses32BitAPICIDs
        state = Locked(State(vectors: Array(repeating: Vector(), count: vectorCount)))
        let id = routes.addListener { [weak self] committed in self?.attachCommitted(upTo: committed) }
        listener.withLock { $0 = id }
    }

    deinit {
        routes.removeListener(listener.withLock { $0 })
        // The device goes away: detach irqfds and give the GSIs back.
        state.withLock { s in
            for (index, v) in s.vectors.enumerated() {
                if v.attached, let gsi = v.gsi, let fd = v.eventfd { try? vm.detachIRQFD(fd, gsi: gsi) }
                if let gsi = v.gsi { try? routes.free(gsi) }
                s.vectors[index].attached = false
            }
        }
        try? routes.commit()
    }

    /// The vector's backend eventfd (made now if it has none yet), for a backend that writes to it
    /// itself: writes raise the vector. The router keeps it for its life from then on.
    public func eventfd(for vector: Int) throws -> EventFD {
        guard (0..<vectorCount).contains(vector) else { throw InterruptError.vectorOutOfRange(vector: vector, count: vectorCount) }
        return try state.withLock { s in
            s.vectors[vector].pinned = true
            return try Self.eventfd(of: vector, in: &s)
        }
    }

    /// Writes `count` to the vector's eventfd (made now if it has none): injected by the kernel
    /// while the irqfd is attached, held otherwise.
    public func signal(_ vector: Int, count: UInt64 = 1) throws {
        guard (0..<vectorCount).contains(vector) else { throw InterruptError.vectorOutOfRange(vector: vector, count: vectorCount) }
        try state.withLock { s in try Self.eventfd(of: vector, in: &s).signal(count) }
    }

    /// Backend eventfds open now (each is one descriptor).
    public var eventfdCount: Int { state.withLock { $0.vectors.lazy.filter { $0.eventfd != nil }.count } }

    /// Closes a vector's eventfd when nothing needs it: not in use, not held by a backend, and
    /// holding no events (a count read while checking is written back and the eventfd kept).
    private static func closeIfUnneeded(_ vector: Int, in s: inout State) {
        let v = s.vectors[vector]
        guard let fd = v.eventfd, !v.inUse, !v.pinned else { return }
        if let held = try? fd.consume(), held > 0 {
            try? fd.signal(held)
            return
        }
        s.vectors[vector].eventfd = nil
    }

    private static func eventfd(of vector: Int, in s: inout State) throws -> EventFD {
        if let fd = s.vectors[vector].eventfd { return fd }
        let fd = try EventFD(nonblocking: true)
        s.vectors[vector].eventfd = fd
        return fd
    }

    /// Routes `vector` to `message` (allocating its GSI on first use); the irqfd is attached by the
    /// next `commit()`. Throws `InterruptError.routesExhausted` when no GSI is left: the vector then
    /// stays on the `KVM_SIGNAL_MSI` path.
    public func use(_ vector: Int, address: UInt64, data: UInt32) throws {
        guard (0..<vectorCount).contains(vector) else { throw InterruptError.vectorOutOfRange(vector: vector, count: vectorCount) }
        let routed = kvmAddress(address)
        // One critical section, the table's taken inside (router, then table: the lock order).
        try state.withLock { s in
            let serial: UInt64
            if let gsi = s.vectors[vector].gsi {
                serial = try routes.setRoute(gsi, address: routed, data: data)
            } else {
                let (gsi, changed) = try routes.allocate(routingTo: routed, data: data)
                s.vectors[vector].gsi = gsi
                serial = changed
            }
            s.vectors[vector].inUse = true
            s.vectors[vector].address = address
            s.vectors[vector].data = data
            if s.vectors[vector].queued { s.attachQueue.removeAll { $0.vector == vector } }
            s.vectors[vector].queued = true
            s.attachQueue.append((vector, serial))
            s.usedSinceCommit.append(vector)
        }
    }

    /// Takes `vector` off its route: detaches the irqfd now, drops the route at the next commit
    /// and gives its GSI back, so the table's capacity counts routes in use, not GSIs ever used;
    /// its eventfd is closed unless a backend holds it or it holds events.
    public func release(_ vector: Int) {
        guard (0..<vectorCount).contains(vector) else { return }
        state.withLock { s in
            var v = s.vectors[vector]
            if v.attached, let gsi = v.gsi, let fd = v.eventfd { try? vm.detachIRQFD(fd, gsi: gsi) }
            v.attached = false
            v.inUse = false
            if let gsi = v.gsi { try? routes.free(gsi) }  // the route goes with the next commit
            v.gsi = nil
            if v.queued { s.attachQueue.removeAll { $0.vector == vector } }
            v.queued = false
            s.vectors[vector] = v
            Self.closeIfUnneeded(vector, in: &s)
        }
    }

    /// Ends a batch: asks the table to commit, by its policy. Committed now, the irqfds of the
    /// vectors used in the batch are attached (which injects any count their eventfds hold);
    /// left to the table's committer, their held counts go out by `KVM_SIGNAL_MSI` now and the
    /// irqfds are attached after the commit. A failed attach does not stop the others; the
    /// first error since the last call is thrown after all were tried.
    public func commit() throws {
        let committedNow = try routes.requestCommit()
        attachCommitted(upTo: routes.committedSerial)
        sendHeldSignalsOfVectorsUsedSinceLastCommit(committedNow: committedNow)
        let error = state.withLock { s in
            defer { s.attachError = nil }
            return s.attachError
        }
        if let error { throw error }
    }

    /// Attaches the irqfds of the waiting vectors whose routes KVM has (serial ≤ `committed`).
    /// A long batch (MaskAll cleared on 2048 vectors) is shared with the table's helper thread:
    /// making each eventfd and attaching it are system calls that run side by side on two cores.
    /// The helper touches only the batch's slots, never the router's state, and the router's lock
    /// is held throughout, so the rules above hold as on one thread.
    private func attachCommitted(upTo committed: UInt64) {
        state.withLock { s in
            // The queue is in serial order: nothing to do while its first route is not in KVM
            // (the common case under coalescing, checked at every guest access).
            guard let first = s.attachQueue.first, first.serial <= committed else { return }
            var waiting: [(vector: Int, serial: UInt64)] = []
            var due: [AttachBatch.Slot] = []
            for entry in s.attachQueue {
                guard entry.serial <= committed else {
                    waiting.append(entry)
                    continue
                }
                s.vectors[entry.vector].queued = false
                let v = s.vectors[entry.vector]
                guard v.inUse, !v.attached, let gsi = v.gsi else { continue }
                due.append(AttachBatch.Slot(vector: entry.vector, gsi: gsi, eventfd: v.eventfd))
            }
            s.attachQueue = waiting
            guard !due.isEmpty else { return }
            let batch = AttachBatch(due)
            let vm = self.vm
            routes.helper.forEach(due.count) { index in batch.attach(index, on: vm) }
            for slot in batch.slots {
                s.vectors[slot.vector].eventfd = slot.eventfd
                if let error = slot.error {
                    if s.attachError == nil { s.attachError = error }
                } else {
                    s.vectors[slot.vector].attached = true
                }
            }
        }
    }

    /// Rule 4: a vector waiting for its commit is live; what its eventfd held while masked goes
    /// out now. Only the vectors used since the last call can hold anything: while a vector
    /// waits, the function sends its events by KVM_SIGNAL_MSI, not through the eventfd.
    private func sendHeldSignalsOfVectorsUsedSinceLastCommit(committedNow: Bool) {
        let messages: [(UInt64, UInt32)] = state.withLock { s in
            defer { s.usedSinceCommit.removeAll(keepingCapacity: true) }
            guard !committedNow else { return [] }
            var out: [(UInt64, UInt32)] = []
            for vector in s.usedSinceCommit {
                let v = s.vectors[vector]
                guard v.inUse, !v.attached, let held = try? v.eventfd?.consume(), held > 0 else { continue }
                out.append((v.address, v.data))
            }
            return out
        }
        for (address, data) in messages { try? send(address: address, data: data) }
    }

    /// Sends one message with `KVM_SIGNAL_MSI` (the VMM's own raise of an unmasked vector).
    public func send(address: UInt64, data: UInt32) throws {
        try vm.signalMSI(address: kvmAddress(address), data: data)
    }

    /// A guest's message address as KVM takes it (extended destination IDs moved when the VM has
    /// 32-bit APIC IDs; see `ExtendedDestinationID`).
    @inline(__always)
    private func kvmAddress(_ address: UInt64) -> UInt64 {
        extendedDestinations ? ExtendedDestinationID.kvmAddress(address) : address
    }

    /// Reads and clears the backend count of a vector whose irqfd is not attached (a masked vector
    /// being polled); 0 when none is held or the irqfd is attached. An emptied eventfd nothing
    /// needs is closed.
    public func takeHeldSignals(_ vector: Int) -> UInt64 {
        guard (0..<vectorCount).contains(vector) else { return 0 }
        return state.withLock { s in
            guard !s.vectors[vector].attached, let fd = s.vectors[vector].eventfd else { return 0 }
            let held = ((try? fd.consume()) ?? nil) ?? 0
            Self.closeIfUnneeded(vector, in: &s)
            return held
        }
    }

    /// Whether `vector`'s irqfd is attached (it is in use and its route committed).
    public func isAttached(_ vector: Int) -> Bool {
        guard (0..<vectorCount).contains(vector) else { return false }
        return state.withLock { $0.vectors[vector].attached }
    }

    /// irqfds attached now.
    public var attachedCount: Int { state.withLock { $0.vectors.lazy.filter(\.attached).count } }

    /// Vectors in use whose irqfd waits for KVM to have their route (under a coalescing policy,
    /// until the table's next commit; their events go out by `KVM_SIGNAL_MSI` meanwhile).
    public var waitingCount: Int { state.withLock { $0.attachQueue.count } }

}

/// The vectors one `attachCommitted` attaches, each slot written by exactly one thread (the
/// caller's or the helper's) and read by the caller after both are done.
private final class AttachBatch: @unchecked Sendable {
    struct Slot {
        let vector: Int
        let gsi: UInt32
        /// The vector's eventfd: made by `attach` if the vector had none.
        var eventfd: EventFD?
        var error: (any Error)?
    }

    let slots: UnsafeMutableBufferPointer<Slot>

    init(_ due: [Slot]) {
        slots = .allocate(capacity: due.count)
        _ = slots.initialize(from: due)
    }

    // The helper lets go of the batch only after its last write to a slot.
    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    /// Makes slot `index`'s eventfd if it has none, then attaches it as the irqfd of its GSI.
    func attach(_ index: Int, on vm: any MSIInjector) {
        do {
            if slots[index].eventfd == nil { slots[index].eventfd = try EventFD(nonblocking: true) }
            try vm.attachIRQFD(slots[index].eventfd!, gsi: slots[index].gsi, resample: nil)
        } catch {
            slots[index].error = error
        }
    }
}
