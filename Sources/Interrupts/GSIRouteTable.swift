import KVM
import Synchronization
import Threads

/// The VM's GSI routing table: a GSI allocator and the MSI routes of every device, committed to
/// KVM with one `KVM_SET_GSI_ROUTING` per batch.
///
/// `KVM_SET_GSI_ROUTING` replaces the whole table, including the pin routes `KVM_CREATE_IRQCHIP`
/// installed for GSI 0–23, so every commit sends those again followed by the MSI routes. Changes
/// only mark the table dirty; `commit()` sends it once, so a guest access that changes many
/// vectors costs one ioctl, not one per vector.
public final class GSIRouteTable: Sendable {
    struct State: ~Copyable {
        var table: GSIRoutingTable
        var free: [UInt32] = []
        /// Whether each GSI handed out so far (index gsi - firstMSIGSI) is allocated now.
        var allocated: [Bool] = []
        var nextUnused: UInt32
        var dirty = false
        var commits = 0
    }

    let vm: KVMVirtualMachine
    /// How many MSI routes fit beside the pin routes.
    public let capacity: Int
    /// The first GSI handed out (GSIs below belong to the irqchip pins).
    public static let firstMSIGSI: UInt32 = 24
    private let state: Locked<State>

    /// Makes an empty table for `vm`; nothing is sent to KVM until the first change is committed.
    ///
    /// - Parameters:
    ///   - vm: the VM whose routing table this is (its KVM_CAP_IRQ_ROUTING bounds the capacity).
    ///   - capacity: MSI routes to allow; at most what KVM_CAP_IRQ_ROUTING reports minus the pin
    ///     routes, or minus the GSIs below ``GSIRouteTable/firstMSIGSI`` if those are more. nil
    ///     takes that maximum.
    ///   - pinRoutes: the irqchip routes every commit keeps (default: KVM's own after
    ///     KVM_CREATE_IRQCHIP; the PC machine passes `GSIRoute.pcPinRoutes` and commits once).
    public init(vm: KVMVirtualMachine, capacity: Int? = nil, pinRoutes: [GSIRoute] = GSIRoute.defaultPinRoutes) {
        self.vm = vm
        let total = max(0, vm.system.check(.irqRouting))
        let available = max(0, min(total - pinRoutes.count, total - Int(Self.firstMSIGSI)))
        self.capacity = min(capacity ?? available, available)
        state = Locked(State(table: GSIRoutingTable(pinRoutes: pinRoutes, capacity: self.capacity),
                            nextUnused: Self.firstMSIGSI))
    }

    /// Takes a free GSI for a new MSI route.
    public func allocate() throws(InterruptError) -> UInt32 {
        try state.withLock { (s: inout State) throws(InterruptError) -> UInt32 in
            if let gsi = s.free.popLast() {
                s.allocated[Int(gsi - Self.firstMSIGSI)] = true
                return gsi
            }
            guard Int(s.nextUnused - Self.firstMSIGSI) < capacity else { throw .routesExhausted(capacity: capacity) }
            defer { s.nextUnused += 1 }
            s.allocated.append(true)
            return s.nextUnused
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
            if s.table.removeMSI(gsi: gsi) { s.dirty = true }
            s.free.append(gsi)
        }
    }

    /// MSI GSIs allocated now.
    public var allocatedCount: Int { state.withLock { s in s.allocated.lazy.filter { $0 }.count } }

    /// Points `gsi` at an MSI message (committed with the next batch). Refuses a GSI that is
    /// not allocated.
    public func setRoute(_ gsi: UInt32, address: UInt64, data: UInt32) throws(InterruptError) {
        try state.withLock { (s: inout State) throws(InterruptError) in
            let index = Int(gsi) - Int(Self.firstMSIGSI)
            guard index >= 0, index < s.allocated.count, s.allocated[index] else { throw .gsiNotAllocated(gsi) }
            // Allocated GSIs never outnumber the table's room, so this cannot fail.
            if s.table.setMSI(gsi: gsi, address: address, data: data) { s.dirty = true }
        }
    }

    /// Removes the route of `gsi` (committed with the next batch); the GSI stays allocated.
    public func removeRoute(_ gsi: UInt32) {
        state.withLock { s in
            if s.table.removeMSI(gsi: gsi) { s.dirty = true }
        }
    }

    /// Sends the table to KVM if anything changed since the last commit.
    public func commit() throws {
        try state.withLock { s in
            guard s.dirty else { return }
            try s.table.commit(to: vm)
            s.dirty = false
            s.commits += 1
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
