#if canImport(Glibc)
import Glibc
#endif
import KVM
import Synchronization
import Threads

/// The VM's GSI routing table: a GSI allocator and the MSI routes of every device, committed to
/// KVM with one `KVM_SET_GSI_ROUTING` per batch.
///
/// `KVM_SET_GSI_ROUTING` replaces the whole table, including the pin routes `KVM_CREATE_IRQCHIP`
/// installed for GSI 0–23, so every commit sends those again followed by the MSI routes. (With
/// a split irqchip the pin routes are the VMM IOAPIC's MSI routes, `setPinRoute`.) Changes
/// only mark the table dirty; `commit()` sends it once, so a guest access that changes many
/// vectors costs one ioctl, not one per vector. `requestCommit()` goes further under a coalescing
/// `RouteCommitPolicy`: it leaves the commit to the table's committer thread, which makes it once
/// the changes stop for the policy's idle time (or at once when enough are pending), so a batch
/// spans many guest accesses.
///
/// Ordering rules (the routers rely on them):
/// 1. Every change gets a serial number (`setRoute` returns it); a commit sends every change made
///    before it, and `committedSerial` says up to which one KVM has them.
/// 2. After each commit the listeners run (outside the table's lock), so a router attaches an
///    irqfd only for a route whose serial is committed: never one KVM does not have.
/// 3. Removing a route needs no commit to be safe: the router detaches the irqfd first, and a
///    route with no irqfd and no `KVM_SIGNAL_MSI` using it does nothing.
public final class GSIRouteTable: Sendable {
    struct State: ~Copyable {
        var table: GSIRoutingTable
        var free: [UInt32] = []
        /// Whether each GSI handed out so far (index gsi - firstMSIGSI) is allocated now.
        var allocated: [Bool] = []
        var nextUnused: UInt32
        var dirty = false
        var commits = 0
        /// Serial of the last change, and of the last change KVM has.
        var changeSerial: UInt64 = 0
        var committedSerial: UInt64 = 0
        /// Changes since the last commit.
        var pending = 0
    }

    /// The committer thread's state: when the next coalesced commit is due. An object apart
    /// from the table, so the thread holds it and only a weak reference to the table: a table
    /// nobody else holds goes away, and its thread ends.
    final class Schedule: @unchecked Sendable {
        // Unchecked: every field is read and written with `monitor` held.
        let monitor = Monitor()
        var due: timespec?
        var stopping = false
        var thread: OSThread?
    }

    /// The VM the table is committed to (or a stand-in for it: `MSIInjector`).
    public let injector: any MSIInjector
    /// How many MSI routes fit beside the pin routes.
    public let capacity: Int
    /// The first GSI handed out (GSIs below belong to the irqchip pins).
    public static let firstMSIGSI: UInt32 = 24
    /// When `requestCommit()` commits.
    public let policy: RouteCommitPolicy
    /// A second thread for the routers' long attach batches (`HelperThread`): started by the
    /// first batch of `helper.minimumToShare` irqfds or more (64 by default), one per VM.
    public let helper: HelperThread
    private let state: Locked<State>
    private let schedule = Schedule()
    private let listeners = Locked<(lastID: Int, list: [(id: Int, run: @Sendable (UInt64) -> Void)])>((0, []))

    /// Makes an empty table for `vm`; nothing is sent to KVM until the first change is committed.
    ///
    /// - Parameters:
    ///   - vm: the VM whose routing table this is (its KVM_CAP_IRQ_ROUTING bounds the capacity);
    ///     a `KVMVirtualMachine`, or another `MSIInjector` in tests.
    ///   - capacity: MSI routes to allow; at most what KVM_CAP_IRQ_ROUTING reports minus the pin
    ///     routes, or minus the GSIs below ``GSIRouteTable/firstMSIGSI`` if those are more. nil
    ///     takes that maximum.
    ///   - pinRoutes: the irqchip routes every commit keeps (default: KVM's own after
    ///     KVM_CREATE_IRQCHIP; the PC machine passes `GSIRoute.pcPinRoutes` and commits once).
    ///   - policy: when `requestCommit()` commits (default: at once).
    ///   - sharedBatchMinimum: the routers share an attach batch of this many irqfds or more with
    ///     `helper` (default 64: below that, waking a thread costs more than it saves).
    public init(vm: any MSIInjector, capacity: Int? = nil, pinRoutes: [GSIRoute] = GSIRoute.defaultPinRoutes,
                policy: RouteCommitPolicy = .immediate, sharedBatchMinimum: Int = 64) {
        injector = vm
        self.policy = policy
        helper = HelperThread(name: "irqfd attach", minimumToShare: sharedBatchMinimum)
        let total = max(0, vm.routeCapacity)
        let available = max(0, min(total - pinRoutes.count, total - Int(Self.firstMSIGSI)))
        self.capacity = min(capacity ?? available, available)
        state = Locked(State(table: GSIRoutingTable(pinRoutes: pinRoutes, capacity: self.capacity),
                            nextUnused: Self.firstMSIGSI))
    }

    /// Takes a free GSI for a new MSI route.
    public func allocate() throws(InterruptError) -> UInt32 {
        try state.withLock { (s: inout State) throws(InterruptError) -> UInt32 in try Self.allocate(&s, capacity: capacity) }
    }

    private static func allocate(_ s: inout State, capacity: Int) throws(InterruptError) -> UInt32 {
        if let gsi = s.free.popLast() {
            s.allocated[Int(gsi - firstMSIGSI)] = true
            return gsi
        }
        guard Int(s.nextUnused - firstMSIGSI) < capacity else { throw .routesExhausted(capacity: capacity) }
        defer { s.nextUnused += 1 }
        s.allocated.append(true)
        return s.nextUnused
    }

    /// Takes a free GSI and points it at an MSI message in one step (committed with the next
    /// batch): the GSI and the change's serial, as `allocate()` then `setRoute` give them.
    public func allocate(routingTo address: UInt64, data: UInt32) throws(InterruptError) -> (gsi: UInt32, serial: UInt64) {
        try state.withLock { (s: inout State) throws(InterruptError) -> (gsi: UInt32, serial: UInt64) in
            let gsi = try Self.allocate(&s, capacity: capacity)
            // Allocated GSIs never outnumber the table's room, so this cannot fail.
            if s.table.setMSI(gsi: gsi, address: address, data: data) { Self.changed(&s) }
            return (gsi, s.changeSerial)
        }
    }

    /// Returns `gsi` to the allocator and drops its route (committed with the next batch).
    /// Refuses a GSI that is not allocated (never handed out, or freed already): freeing it
    /// twice would let two vectors share it.
    public func free(_ gsi: UInt32) throws(InterruptError) {
        try state.withLock { (s: inout State) throws(InterruptError) in
            let index = Int(gsi) - Int(Self.firstMSIGSI)
            guard index >= 0, index < s.allocated.count, s.allocated[index] else { throw .gsiNotAllocated(gsi) }
            s.allocated[index] = false
            if s.table.removeMSI(gsi: gsi) { Self.changed(&s) }
            s.free.append(gsi)
        }
    }

    /// MSI GSIs allocated now.
    public var allocatedCount: Int { state.withLock { s in s.allocated.lazy.filter { $0 }.count } }

    /// Points `gsi` at an MSI message (committed with the next batch) and returns the change's
    /// serial: KVM has the route once `committedSerial` reaches it. Refuses a GSI that is not
    /// allocated.
    @discardableResult
    public func setRoute(_ gsi: UInt32, address: UInt64, data: UInt32) throws(InterruptError) -> UInt64 {
        try state.withLock { (s: inout State) throws(InterruptError) -> UInt64 in
            let index = Int(gsi) - Int(Self.firstMSIGSI)
            guard index >= 0, index < s.allocated.count, s.allocated[index] else { throw .gsiNotAllocated(gsi) }
            // Allocated GSIs never outnumber the table's room, so this cannot fail.
            if s.table.setMSI(gsi: gsi, address: address, data: data) { Self.changed(&s) }
            return s.changeSerial
        }
    }

    /// Replaces pin route `index` (one of the table's `pinRoutes`, in their order), committed with
    /// the next batch; returns false for an index past them. With a split irqchip the VMM's
    /// IOAPIC keeps an MSI route per pin here, so KVM knows its level-triggered vectors.
    @discardableResult
    public func setPinRoute(_ route: GSIRoute, at index: Int) -> Bool {
        state.withLock { s in
            guard s.table.setPinRoute(route, at: index) else { return false }
            Self.changed(&s)
            return true
        }
    }

    /// Pin route `index` when it is an MSI route, as the next commit sends it.
    public func pinMSIRoute(at index: Int) -> (gsi: UInt32, address: UInt64, data: UInt32)? {
        state.withLock { $0.table.pinMSIRoute(at: index) }
    }

    private static func changed(_ s: inout State) {
        s.dirty = true
        s.changeSerial += 1
        s.pending += 1
    }

    /// The serial of the last change KVM has.
    public var committedSerial: UInt64 { state.withLock { $0.committedSerial } }

    /// Removes the route of `gsi` (committed with the next batch); the GSI stays allocated.
    public func removeRoute(_ gsi: UInt32) {
        state.withLock { s in
            if s.table.removeMSI(gsi: gsi) { Self.changed(&s) }
        }
    }

    /// Sends the table to KVM now if anything changed since the last commit, then runs the
    /// listeners with the committed serial.
    public func commit() throws {
        let committed: UInt64? = try state.withLock { s in
            guard s.dirty else { return nil }
            let serial = s.changeSerial
            try injector.commitRoutes(s.table)
            s.dirty = false
            s.pending = 0
            s.commits += 1
            s.committedSerial = serial
            return serial
        }
        guard let committed else { return }
        for listener in listeners.withLock({ $0.list }) { listener.run(committed) }
    }

    /// Asks for the changes made so far to reach KVM, by the policy: true when they were
    /// committed now (an immediate policy, enough changes pending, or nothing to commit), false
    /// when the committer thread will commit them within the policy's idle time.
    @discardableResult
    public func requestCommit() throws -> Bool {
        let pending = state.withLock { s in s.dirty ? s.pending : 0 }
        if pending == 0 { return true }
        let schedule = self.schedule
        let deferred = try schedule.monitor.withLock { () throws(ThreadError) -> Bool in
            guard !policy.isImmediate, pending < policy.maxPending, !schedule.stopping else { return false }
            let wasIdle = schedule.due == nil
            schedule.due = Monitor.deadline(after: policy.idle)
            if schedule.thread == nil {
                // The thread holds the schedule, and the table only weakly: a table nobody else
                // holds goes away (its deinit stops the thread).
                schedule.thread = try OSThread(name: "route commits") { [weak self] in
                    Self.runCommitter(schedule) { try? self?.commit() }
                }
            }
            // A committer already waiting for a deadline finds the later one when it wakes; only
            // an idle one needs waking (waking it on every guest access cost a context switch
            // each: 25 ms for 512 unmasks).
            if wasIdle { schedule.monitor.broadcast() }
            return true
        }
        if !deferred { try commit() }
        return !deferred
    }

    /// Runs `listener(committedSerial)` after every commit, on the committing thread, outside
    /// the table's lock. Returns a token for `removeListener`.
    public func addListener(_ listener: @escaping @Sendable (UInt64) -> Void) -> Int {
        listeners.withLock { l in
            l.lastID += 1
            l.list.append((l.lastID, listener))
            return l.lastID
        }
    }

    /// Stops running the listener `addListener` returned `id` for.
    public func removeListener(_ id: Int) {
        listeners.withLock { $0.list.removeAll { $0.id == id } }
    }

    /// The committer: waits until a commit is due and the changes have been idle that long,
    /// then calls `commit` (whose failure is dropped here; the next request tries again). Ends
    /// when the table stops or is gone.
    private static func runCommitter(_ schedule: Schedule, commit: () -> Void) {
        while true {
            let due: Bool = schedule.monitor.withLock {
                while !schedule.stopping {
                    guard let deadline = schedule.due else {
                        schedule.monitor.wait()
                        continue
                    }
                    if !schedule.monitor.wait(until: deadline) {
                        // Timed out: due unless a later request moved the deadline.
                        if let now = schedule.due, compare(now, deadline) > 0 { continue }
                        schedule.due = nil
                        return true
                    }
                }
                return false
            }
            guard due else { return }
            commit()
        }
    }

    private static func compare(_ a: timespec, _ b: timespec) -> Int {
        a.tv_sec != b.tv_sec ? (a.tv_sec < b.tv_sec ? -1 : 1) : (a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec == b.tv_nsec ? 0 : 1)
    }

    /// Stops the committer thread and commits what waited for it. Idempotent; the table stays
    /// usable, committing each request at once from then on.
    public func stop() {
        let thread: OSThread? = schedule.monitor.withLock {
            schedule.stopping = true
            schedule.monitor.broadcast()
            defer { schedule.thread = nil }
            return schedule.thread
        }
        thread?.join()
        try? commit()
    }

    deinit {
        // The last reference may go on the committer thread itself: tell it to end, don't join.
        schedule.monitor.withLock {
            schedule.stopping = true
            schedule.monitor.broadcast()
            schedule.thread?.detach()
            schedule.thread = nil
        }
    }

    private let exhaustionReported = Atomic<Bool>(false)

    /// True the first time it is asked (for the log line "the table is full" that a machine
    /// prints once, however many vectors then stay on KVM_SIGNAL_MSI).
    public func firstExhaustionReport() -> Bool {
        !exhaustionReported.exchange(true, ordering: .relaxed)
    }

    /// `KVM_SET_GSI_ROUTING` calls made so far.
    public var commitCount: Int { state.withLock { $0.commits } }

    /// The MSI routes as they will be (or were last) committed, by GSI.
    public var msiRoutes: [UInt32: (address: UInt64, data: UInt32)] { state.withLock { $0.table.msiRoutes } }
}
