#if canImport(Glibc)
import Glibc
#endif
import Interrupts
import KVM
import Testing
import TestSupport
import Threads


/// A VM with an irqchip and one vCPU, enough for routes and irqfds.
func makeVM() throws -> KVMVirtualMachine {
    let vm = try KVMSystem().createVirtualMachine()
    try vm.createIRQChip()
    _ = try vm.createVCPU(id: 0)
    return vm
}

@Suite(.enabled(if: kvmAvailable)) struct RouterTests {
    @Test func useOfManyVectorsCommitsOnceAndAttachesEachIrqfdAfter() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 2048)
        for v in 0..<2048 { try router.use(v, address: 0xFEE0_0000, data: UInt32(0x30 + v % 200)) }
        #expect(table.commitCount == 0, "use only records routes")
        #expect(router.attachedCount == 0, "irqfds wait for the commit")
        try router.commit()
        #expect(table.commitCount == 1, "2048 routes, one KVM_SET_GSI_ROUTING")
        #expect(router.attachedCount == 2048)
        #expect(table.msiRoutes.count == 2048)
        try router.commit()
        #expect(table.commitCount == 1, "nothing changed, nothing sent")
    }

    @Test func aGSIFreedTwiceIsRefusedSoNoTwoVectorsShareIt() throws {
        let table = GSIRouteTable(vm: try makeVM())
        let a = try table.allocate()
        try table.setRoute(a, address: 0xFEE0_0000, data: 0x40)
        try table.free(a)
        #expect(throws: InterruptError.gsiNotAllocated(a)) { try table.free(a) }
        #expect(throws: InterruptError.gsiNotAllocated(a)) { try table.setRoute(a, address: 0xFEE0_0000, data: 0x41) }
        #expect(throws: InterruptError.gsiNotAllocated(5)) { try table.free(5) }
        #expect(throws: InterruptError.gsiNotAllocated(4000)) { try table.free(4000) }
        let b = try table.allocate()
        let c = try table.allocate()
        #expect(b != c, "the one free GSI went to one of them only")
        #expect(table.allocatedCount == 2)
        #expect(table.msiRoutes.isEmpty)
    }

    /// Error paths through the KVM failure-injection seam: the route is committed but an irqfd is
    /// refused; the table commit itself is refused.
    @Test func aRefusedIrqfdAfterACommittedRouteLeavesThatVectorUnattachedOnly() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 4)
        for v in 0..<4 { try router.use(v, address: 0xFEE0_0000, data: 0x40 + UInt32(v)) }
        vm.faults.failNext(.irqfd, errno: 9)  // EBADF, for the first attach (vector 0)
        #expect(throws: KVMError.ioctl(name: "KVM_IRQFD", argument: "attaching fd \(try router.eventfd(for: 0).rawValue) to GSI 24", errno: 9)) {
            try router.commit()
        }
        #expect(table.commitCount == 1, "the routes were committed")
        #expect(table.msiRoutes.count == 4)
        #expect(!router.isAttached(0), "vector 0's irqfd was refused")
        #expect((1..<4).allSatisfy { router.isAttached($0) }, "the others were still attached")
        // The device model sees vector 0 unattached and sends its events with KVM_SIGNAL_MSI;
        // releasing and using it again attaches it.
        router.release(0)
        try router.use(0, address: 0xFEE0_0000, data: 0x40)
        try router.commit()
        #expect(router.isAttached(0))
    }

    @Test func aRefusedRoutingCommitAttachesNothingAndIsRetried() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 4)
        try router.use(1, address: 0xFEE0_0000, data: 0x41)
        vm.faults.failNext(.setGSIRouting, errno: 12)  // ENOMEM
        #expect(throws: KVMError.self) { try router.commit() }
        #expect(table.commitCount == 0)
        #expect(!router.isAttached(1), "no irqfd may point at a GSI whose route KVM does not have")
        try router.commit()
        #expect(table.commitCount == 1, "the next batch sends the table")
        #expect(router.isAttached(1), "and attaches what waited for it")
    }

    @Test func aRefusedSignalMSIIsReportedWithTheMessage() throws {
        let vm = try makeVM()
        let router = try MSIVectorRouter(routes: GSIRouteTable(vm: vm), vectorCount: 1)
        vm.faults.failNext(.signalMSI, errno: 22)
        #expect(throws: KVMError.ioctl(name: "KVM_SIGNAL_MSI", argument: "for address 0xfee00000 data 0x41", errno: 22)) {
            try router.send(address: 0xFEE0_0000, data: 0x41)
        }
        try router.send(address: 0xFEE0_0000, data: 0x41)  // planned failures are used up
    }

    @Test func releasedVectorsLeaveTheTableAndDetachAtOnce() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 8)
        for v in 0..<8 { try router.use(v, address: 0xFEE0_0000, data: 0x40 + UInt32(v)) }
        try router.commit()
        router.release(3)
        #expect(!router.isAttached(3), "detached before the routing change")
        #expect(router.attachedCount == 7)
        try router.commit()
        #expect(table.commitCount == 2)
        #expect(table.msiRoutes.count == 7)
        #expect(!table.msiRoutes.values.contains { $0.data == 0x43 }, "a masked vector never appears in the table")
        // Its GSI is kept for the next use: the route comes back with the same GSI.
        try router.use(3, address: 0xFEE0_0000, data: 0x53)
        try router.commit()
        #expect(table.msiRoutes.count == 8)
        #expect(router.isAttached(3))
    }

    @Test func gsisAreAllocatedOnFirstUseNotUpFront() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 2048)
        try router.use(5, address: 0xFEE0_0000, data: 0x40)
        try router.commit()
        #expect(table.msiRoutes.keys.sorted() == [GSIRouteTable.firstMSIGSI])
    }

    @Test func whenRoutesRunOutUseThrowsAndOtherVectorsStayRouted() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm, capacity: 2)
        let router = try MSIVectorRouter(routes: table, vectorCount: 4)
        try router.use(0, address: 0xFEE0_0000, data: 0x40)
        try router.use(1, address: 0xFEE0_0000, data: 0x41)
        #expect(throws: InterruptError.routesExhausted(capacity: 2)) { try router.use(2, address: 0xFEE0_0000, data: 0x42) }
        try router.commit()
        #expect(router.attachedCount == 2)
        #expect(!router.isAttached(2))
        #expect("\(InterruptError.routesExhausted(capacity: 2))" == "the KVM GSI routing table is full (2 MSI routes)")
        // Capacity counts routes in use: releasing one makes room for another.
        router.release(0)
        try router.use(2, address: 0xFEE0_0000, data: 0x42)
        try router.commit()
        #expect(router.isAttached(2) && router.isAttached(1) && !router.isAttached(0))
        #expect(table.allocatedCount == 2)
        #expect(Set(table.msiRoutes.values.map(\.data)) == [0x41, 0x42])
        // Using vector 0 again takes a GSI again (none is free now).
        #expect(throws: InterruptError.routesExhausted(capacity: 2)) { try router.use(0, address: 0xFEE0_0000, data: 0x40) }
        #expect(table.firstExhaustionReport())
        #expect(!table.firstExhaustionReport(), "said once")
    }

    @Test func signalsHeldWhileMaskedAreTakenByAPoll() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 4)
        let fd = try router.eventfd(for: 1)
        try fd.signal()
        try fd.signal()
        #expect(router.takeHeldSignals(1) == 2)
        #expect(router.takeHeldSignals(1) == 0)
        // Once attached, the kernel owns the count: a poll takes nothing.
        try router.use(1, address: 0xFEE0_0000, data: 0x41)
        try router.commit()
        try fd.signal()
        #expect(router.takeHeldSignals(1) == 0)
    }

    @Test func signalMSISendsAndVectorsAreChecked() throws {
        let vm = try makeVM()
        let router = try MSIVectorRouter(routes: GSIRouteTable(vm: vm), vectorCount: 1)
        try router.send(address: 0xFEE0_0000, data: 0x40)
        #expect(throws: InterruptError.vectorOutOfRange(vector: 1, count: 1)) { _ = try router.eventfd(for: 1) }
        #expect("\(InterruptError.vectorOutOfRange(vector: 1, count: 1))" == "vector 1 is out of range 0…0")
        #expect("\(InterruptError.vectorOutOfRange(vector: 0, count: 0))" == "vector 0 does not exist (the device has no vectors)")
    }

    @Test func theDefaultCapacityLeavesRoomForThePinRoutes() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        #expect(table.capacity == vm.system.check(.irqRouting) - GSIRoute.defaultPinRoutes.count)
        #expect(table.capacity >= 2048)
    }
}

/// A long attach batch is shared with the route table's helper thread (`HelperThread`): the
/// rules hold as on one thread, and a refusal on the helper's share costs only its own vector.
/// `SharingInjector` makes the sharing certain: it holds the caller's first attach until the
/// helper has tried one.
@Suite struct SharedAttachBatchTests {
    /// 512 vectors used and committed at once (MaskAll cleared): every irqfd is attached after its
    /// route reached the injector, some by the helper, and a backend event on each is delivered
    /// exactly once.
    @Test func aLongBatchAttachesEveryIrqfdOnceAfterItsRoute() throws {
        let injector = SharingInjector(refuseFirstOffCaller: false)
        let table = GSIRouteTable(vm: injector)
        let router = try MSIVectorRouter(routes: table, vectorCount: 512)
        for v in 0..<512 { try router.use(v, address: 0xFEE0_0000, data: UInt32(v)) }
        try router.commit()
        #expect(injector.attachesOffCaller > 0 && table.helper.iterationsHelped > 0, "the batch was shared")
        #expect(router.attachedCount == 512)
        #expect(router.eventfdCount == 512)
        #expect(injector.counted.violations.isEmpty, "\(injector.counted.violations.prefix(3))")
        for v in 0..<512 { try router.signal(v) }
        #expect((0..<512).allSatisfy { injector.counted.delivered(data: UInt32($0)) == 1 }, "one delivery per event, by the irqfd")
        #expect(injector.counted.signaled == 0, "none needed KVM_SIGNAL_MSI")
    }

    /// The helper's first KVM_IRQFD refused: the commit throws it, that one vector alone stays
    /// unattached (on KVM_SIGNAL_MSI) and keeps its eventfd, the other 511 are attached, and
    /// using it again attaches it.
    @Test func aRefusalOnTheHelpersShareLeavesOnlyItsVectorUnattached() throws {
        let injector = SharingInjector(refuseFirstOffCaller: true)
        let table = GSIRouteTable(vm: injector)
        let router = try MSIVectorRouter(routes: table, vectorCount: 512)
        for v in 0..<512 { try router.use(v, address: 0xFEE0_0000, data: UInt32(v)) }
        #expect(throws: SharingInjector.Refused.self) { try router.commit() }
        try expectOnlyTheRefusedVectorUnattached(router, vectors: 512)
        #expect(injector.counted.violations.isEmpty, "\(injector.counted.violations.prefix(3))")
    }
}

/// After a commit that one refused KVM_IRQFD made throw: only that vector is unattached (on
/// KVM_SIGNAL_MSI), it keeps its eventfd while in use, and using it again attaches it.
func expectOnlyTheRefusedVectorUnattached(_ router: MSIVectorRouter, vectors: Int) throws {
    let unattached = (0..<vectors).filter { !router.isAttached($0) }
    #expect(unattached.count == 1)
    #expect(router.attachedCount == vectors - 1)
    #expect(router.eventfdCount == vectors, "the refused vector keeps its eventfd while in use")
    guard let v = unattached.first else { return }
    router.release(v)
    try router.use(v, address: 0xFEE0_0000, data: UInt32(v))
    try router.commit()
    #expect(router.isAttached(v))
}

/// A `CountingInjector` that makes a batch's sharing certain: the first irqfd attached on the
/// thread that made it waits (at most 10 s, so a helper that never comes fails the test rather
/// than hanging it) until another thread has tried one; and it can refuse the first attach
/// made on another thread.
final class SharingInjector: MSIInjector, Sendable {
    struct Refused: Error {}
    let counted = CountingInjector()
    private let caller = pthread_self()
    private let refuseFirstOffCaller: Bool
    private let state = Locked((callerWaited: false, offCaller: 0, refused: false))

    init(refuseFirstOffCaller: Bool) { self.refuseFirstOffCaller = refuseFirstOffCaller }

    /// Attaches tried on threads other than the one that made the injector.
    var attachesOffCaller: Int { state.withLock { $0.offCaller } }

    var routeCapacity: Int { counted.routeCapacity }
    var uses32BitAPICIDs: Bool { counted.uses32BitAPICIDs }
    func commitRoutes(_ table: borrowing GSIRoutingTable) throws { try counted.commitRoutes(table) }
    func detachIRQFD(_ eventfd: EventFD, gsi: UInt32) throws { try counted.detachIRQFD(eventfd, gsi: gsi) }
    func signalMSI(address: UInt64, data: UInt32) throws -> Bool { try counted.signalMSI(address: address, data: data) }

    func attachIRQFD(_ eventfd: EventFD, gsi: UInt32, resample: EventFD?) throws {
        if pthread_equal(pthread_self(), caller) != 0 {
            if !state.withLock({ s in defer { s.callerWaited = true }; return s.callerWaited }) {
                let start = ContinuousClock.now
                while attachesOffCaller == 0, ContinuousClock.now - start < .seconds(10) { usleep(100) }
            }
        } else {
            let refuse = state.withLock { s in
                s.offCaller += 1
                defer { if refuseFirstOffCaller { s.refused = true } }
                return refuseFirstOffCaller && !s.refused
            }
            if refuse { throw Refused() }
        }
        try counted.attachIRQFD(eventfd, gsi: gsi, resample: resample)
    }
}

@Suite(.enabled(if: kvmAvailable)) struct LongBatchKVMTests {
    /// One KVM_IRQFD refused among 2048 attached at once (on whichever thread it fell): the
    /// commit throws it, that one vector alone stays unattached (on KVM_SIGNAL_MSI), the other
    /// 2047 are attached, and using it again attaches it.
    @Test func aRefusedIrqfdAmong2048LeavesOnlyItsVectorUnattached() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm)
        let router = try MSIVectorRouter(routes: table, vectorCount: 2048)
        for v in 0..<2048 { try router.use(v, address: 0xFEE0_0000, data: 0x30 + UInt32(v % 200)) }
        vm.faults.failNext(.irqfd, errno: 9)
        #expect(throws: KVMError.self) { try router.commit() }
        try expectOnlyTheRefusedVectorUnattached(router, vectors: 2048)
    }
}
