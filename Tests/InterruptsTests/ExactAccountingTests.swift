#if canImport(Glibc)
import Glibc
#endif
import Interrupts
import KVM
import KVMMSIX
import MSIX
import Synchronization
import Testing
import TestSupport

/// Every event raised on an MSI-X function is delivered exactly once or is pending, whatever the
/// guest does to the masks and messages meanwhile, and whenever the route table commits: raised =
/// delivered + pending, exactly. The function runs on a real VM for everything but the
/// interrupts, which go to a `CountingInjector`: a real LAPIC merges repeats of a vector, so it
/// cannot show a double delivery.
@Suite(.enabled(if: kvmAvailable)) struct ExactAccountingTests {
    static let vectors = 8
    static func data(_ v: Int) -> UInt32 { 0x40 + UInt32(v) }

    /// One function, its table programmed (every vector masked, MSI-X enabled, Bus Master on).
    struct Rig {
        let injector = CountingInjector()
        let routes: GSIRouteTable
        let function: MSIXFunction

        init(policy: RouteCommitPolicy, sharedBatchMinimum: Int) throws {
            routes = GSIRouteTable(vm: injector, policy: policy, sharedBatchMinimum: sharedBatchMinimum)
            function = try MSIXFunction(name: "accounting", vectors: ExactAccountingTests.vectors, placement: .exclusiveBAR(1),
                                        capabilityOffset: 0x40, vm: try makeVM(), routes: routes, initialUseCount: 1) { _ in }
            function.commandChanged(0x4)  // Bus Master Enable
            for v in 0..<ExactAccountingTests.vectors {
                entry(v, 0, 0xFEE0_0000)
                entry(v, 8, UInt64(ExactAccountingTests.data(v)))
            }
            function.capabilityWrite(offset: 2, size: 2, value: 0x8000)  // Enable, Function Mask clear
        }

        func entry(_ v: Int, _ field: UInt64, _ value: UInt64) {
            function.barWrite(1, offset: 16 * UInt64(v) + field, size: 4, value: value)
        }
        func mask(_ v: Int, _ masked: Bool) { entry(v, 12, masked ? 1 : 0) }
        func functionMask(_ on: Bool) { function.capabilityWrite(offset: 2, size: 2, value: on ? 0xC000 : 0x8000) }
        /// The PBA (a read runs the poll notifier first, as a guest's does).
        func pba() -> UInt64 { function.barRead(1, offset: function.layout.pba.offset, size: 8) ?? 0 }
        func delivered(_ v: Int) -> UInt64 { injector.delivered(data: ExactAccountingTests.data(v)) }
    }

    /// Two threads raise (each owns half the vectors and raises one again only once its last
    /// event was delivered, so no two events of a vector can merge and each must be counted);
    /// two threads mask, unmask, retarget, set and clear Function Mask and read the PBA, under
    /// an immediate or a coalescing policy (seeded idle time and pending cap) whose committer
    /// races them; on odd seeds every attach batch of two or more is shared with the route
    /// table's helper thread. Each event must be delivered within the wait; none twice. Then, every vector
    /// masked, one more raise each: none delivered, each pending (PBA), and delivered exactly
    /// once at the unmask.
    @Test(arguments: testSeeds([1, 2, 3, 4, 5, 6]))
    func raisedIsDeliveredPlusPendingExactlyUnderMaskStorms(seed: UInt64) throws {
        var setup = SplitMix64(seed: seed)
        let policy = seed % 3 == 0 ? RouteCommitPolicy.immediate
            : RouteCommitPolicy(idle: Double.random(in: 0.0001...0.002, using: &setup), maxPending: Int.random(in: 2...32, using: &setup))
        let sharedBatchMinimum = seed % 2 == 1 ? 2 : 64
        let rig = try Rig(policy: policy, sharedBatchMinimum: sharedBatchMinimum)
        let failures = Mutex<[String]>([])
        let raisersLeft = Atomic<Int>(2)
        let raised = Mutex<[UInt64]>(Array(repeating: 0, count: Self.vectors))
        let threads = TestThreads(4) { index in
            var random = SplitMix64(seed: seed &* 31 &+ UInt64(index))
            if index < 2 {
                var mine = Array(repeating: UInt64(0), count: Self.vectors)
                defer {
                    raised.withLock { r in for v in stride(from: index, to: Self.vectors, by: 2) { r[v] = mine[v] } }
                    raisersLeft.subtract(1, ordering: .releasing)
                }
                for _ in 0..<300 {
                    let v = index + 2 * Int.random(in: 0..<(Self.vectors / 2), using: &random)
                    let backend = Int.random(in: 0..<10, using: &random) < 7
                    let taken = backend ? rig.function.raiseBackend(vector: v) != .dropped
                        : [.sent, .pended].contains(rig.function.raise(vector: v))
                    guard taken else {
                        failures.withLock { $0.append("vector \(v): a \(backend ? "backend " : "")raise was dropped") }
                        return
                    }
                    mine[v] += 1
                    var waited = 0
                    while rig.delivered(v) < mine[v], waited < 500_000 {
                        usleep(20)
                        waited += 20
                    }
                    let got = rig.delivered(v)
                    if got != mine[v] {
                        failures.withLock { $0.append("vector \(v): \(got) delivered after \(mine[v]) raises (\(got < mine[v] ? "lost" : "delivered twice"))") }
                        return
                    }
                }
            } else {
                while raisersLeft.load(ordering: .acquiring) > 0 {
                    let v = Int.random(in: 0..<Self.vectors, using: &random)
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0..<3: rig.mask(v, true)
                    case 3..<7: rig.mask(v, false)
                    case 7: rig.entry(v, 0, 0xFEE0_0000 | UInt64.random(in: 0..<4, using: &random) << 12)  // retarget
                    case 8:
                        rig.functionMask(true)
                        usleep(UInt32.random(in: 0..<50, using: &random))
                        rig.functionMask(false)
                    default: _ = rig.pba()
                    }
                    usleep(UInt32.random(in: 0..<40, using: &random))
                }
            }
        }
        threads.join()
        let hint = "\(replayHint(seed)), policy \(policy), batches shared from \(sharedBatchMinimum)"
        #expect(failures.withLock { $0 } == [], "\(hint)")
        #expect(rig.injector.violations == [], "\(hint)")
        var expected = raised.withLock { $0 }
        for v in 0..<Self.vectors { #expect(rig.delivered(v) == expected[v], "vector \(v), \(hint)") }

        // Pending: every vector masked, one raise each by either path.
        for v in 0..<Self.vectors { rig.mask(v, true) }
        for v in 0..<Self.vectors {
            if v % 2 == 0 { #expect(rig.function.raiseBackend(vector: v) == .signaled, "\(hint)") }
            else { #expect(rig.function.raise(vector: v) == .pended, "\(hint)") }
            expected[v] += 1
        }
        #expect(rig.pba() & 0xFF == 0xFF, "each vector pending, \(hint)")
        for v in 0..<Self.vectors { #expect(rig.delivered(v) == expected[v] - 1, "vector \(v) delivered while masked, \(hint)") }
        for v in 0..<Self.vectors { rig.mask(v, false) }
        rig.routes.stop()
        for v in 0..<Self.vectors { #expect(rig.delivered(v) == expected[v], "vector \(v) at the unmask, \(hint)") }
        #expect(rig.pba() & 0xFF == 0, "\(hint)")
        #expect(rig.injector.violations == [], "\(hint)")
    }
}
