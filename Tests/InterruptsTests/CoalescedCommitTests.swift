import Interrupts
import KVM
import Testing
import TestSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Route commits coalesced across guest accesses (RouteCommitPolicy, GSIRouteTable's committer
/// thread, MSIVectorRouter's rules 3 and 4).
@Suite(.enabled(if: kvmAvailable)) struct CoalescedCommitTests {
    /// Waits up to `seconds` for `condition`.
    func eventually(_ seconds: Double = 2, _ condition: () -> Bool) -> Bool {
        var waited = 0.0
        while !condition() {
            guard waited < seconds else { return false }
            usleep(1000)
            waited += 0.001
        }
        return true
    }

    /// Uses vectors `range`, one commit request after each, as guest accesses would.
    func useOneAccessAtATime(_ router: MSIVectorRouter, _ range: Range<Int>) throws {
        for v in range {
            try router.use(v, address: 0xFEE0_0000, data: 0x30 + UInt32(v))
            try router.commit()
        }
    }

    @Test func unmasksOneAccessAtATimeShareOneCommitAfterTheIdleTime() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm, policy: RouteCommitPolicy(idle: 0.05, maxPending: 10_000))
        let router = try MSIVectorRouter(routes: table, vectorCount: 64)
        try useOneAccessAtATime(router, 0..<64)
        #expect(table.commitCount == 0, "64 accesses, no commit yet")
        #expect(router.attachedCount == 0, "no irqfd before KVM has the routes")
        #expect(eventually { router.attachedCount == 64 }, "the committer commits and attaches")
        #expect(table.commitCount == 1, "one KVM_SET_GSI_ROUTING for the 64 accesses")
        #expect(table.committedSerial > 0)
    }

    @Test func enoughPendingChangesCommitAtOnce() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm, policy: RouteCommitPolicy(idle: 1, maxPending: 4))
        let router = try MSIVectorRouter(routes: table, vectorCount: 8)
        try useOneAccessAtATime(router, 0..<3)
        #expect(table.commitCount == 0)
        try useOneAccessAtATime(router, 3..<4)
        #expect(table.commitCount == 1, "the fourth pending change commits")
        #expect(router.attachedCount == 4, "and the four irqfds are attached then")
    }

    /// The committer thread holds the table only weakly: a table nobody holds goes away while
    /// a commit waits for its idle time (and its deinit ends the thread).
    @Test func aTableWithAWaitingCommitIsFreedWhenNobodyHoldsIt() throws {
        let vm = try makeVM()
        weak var weakTable: GSIRouteTable?
        do {
            let table = GSIRouteTable(vm: vm, policy: RouteCommitPolicy(idle: 1, maxPending: 10_000))
            weakTable = table
            try table.setRoute(try table.allocate(), address: 0xFEE0_0000, data: 0x40)
            #expect(try table.requestCommit() == false, "left to the committer thread")
        }
        #expect(weakTable == nil, "the waiting committer kept the table alive")
    }

    /// Rule 4: what a vector's eventfd held while masked goes out by KVM_SIGNAL_MSI when it is
    /// unmasked and its commit waits, once: the eventfd is emptied, so the irqfd attached later
    /// has nothing to inject again.
    @Test func heldEventsOfAWaitingVectorGoOutOnceByMSI() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm, policy: RouteCommitPolicy(idle: 1, maxPending: 10_000))
        let router = try MSIVectorRouter(routes: table, vectorCount: 2)
        try router.eventfd(for: 1).signal(3)  // raised three times while masked: held
        vm.faults.startRecording()
        try router.use(1, address: 0xFEE0_0000, data: 0x41)
        try router.commit()
        #expect(vm.faults.recorded == [.signalMSI], "one message for the held events, no commit yet")
        #expect(router.takeHeldSignals(1) == 0, "the eventfd is empty")
        try table.commit()
        #expect(router.isAttached(1))
        #expect(vm.faults.recorded == [.signalMSI, .setGSIRouting, .irqfd])
    }

    /// Masking (release) before the commit: the vector is never attached, and its route goes.
    @Test func aVectorReleasedBeforeItsCommitIsNeverAttached() throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm, policy: RouteCommitPolicy(idle: 1, maxPending: 10_000))
        let router = try MSIVectorRouter(routes: table, vectorCount: 2)
        try router.use(0, address: 0xFEE0_0000, data: 0x40)
        try router.use(1, address: 0xFEE0_0000, data: 0x41)
        try router.commit()
        router.release(0)
        try table.commit()
        #expect(!router.isAttached(0))
        #expect(router.isAttached(1))
        #expect(table.msiRoutes.count == 1)
        table.stop()
        try router.use(0, address: 0xFEE0_0000, data: 0x42)
        try router.commit()
        #expect(router.isAttached(0), "once stopped, a table commits each request at once")
    }

    /// Uses, releases and commits from several threads (each owning its vectors, as each device's
    /// lock makes them) against the committer thread: nothing fails, and at the end (after a
    /// final commit) exactly the vectors in use are attached and the table holds exactly their routes.
    @Test(arguments: testSeeds([1, 2, 3]))
    func concurrentUseAndReleaseEndWithExactlyTheUsedVectorsAttached(seed: UInt64) throws {
        let vm = try makeVM()
        let table = GSIRouteTable(vm: vm, policy: RouteCommitPolicy(idle: 0.0005, maxPending: 16))
        let router = try MSIVectorRouter(routes: table, vectorCount: 64)
        let failures = Mutex<[String]>([])
        let threads = TestThreads(4) { index in
            var random = SplitMix64(seed: seed &+ UInt64(index))
            for _ in 0..<300 {
                let v = index * 16 + Int.random(in: 0..<16, using: &random)  // each thread owns 16 vectors
                do {
                    if Bool.random(using: &random) {
                        try router.use(v, address: 0xFEE0_0000, data: 0x30 + UInt32(v))
                    } else {
                        router.release(v)
                    }
                    try router.commit()
                } catch {
                    failures.withLock { $0.append("vector \(v): \(error)") }
                }
            }
            // Leave every even vector of this thread in use.
            for v in stride(from: index * 16, to: index * 16 + 16, by: 2) {
                do { try router.use(v, address: 0xFEE0_0000, data: 0x30 + UInt32(v)); try router.commit() } catch {
                    failures.withLock { $0.append("vector \(v): \(error)") }
                }
            }
            for v in stride(from: index * 16 + 1, to: index * 16 + 16, by: 2) { router.release(v) }
        }
        threads.join()
        try table.commit()
        try router.commit()
        #expect(failures.withLock { $0 } == [], "\(replayHint(seed))")
        let attached = (0..<64).filter { router.isAttached($0) }
        #expect(attached == Array(stride(from: 0, to: 64, by: 2)), "\(replayHint(seed))")
        #expect(table.msiRoutes.count == 32, "\(replayHint(seed))")
    }
}
