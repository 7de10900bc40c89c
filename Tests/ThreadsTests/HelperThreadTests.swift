#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import TestSupport
import Threads

/// Counts how often each index ran, and on which threads, from several threads at once.
private final class Runs: Sendable {
    final class Counter: Sendable {
        let value = Atomic(0)
        func load() -> Int { value.load(ordering: .relaxed) }
    }
    let counts: [Counter]
    /// The thread of each index's last run (pthread_self), written without ordering: only the
    /// counting caller reads it, after `forEach` returned.
    nonisolated(unsafe) let threads: UnsafeMutableBufferPointer<pthread_t>

    init(_ count: Int) {
        counts = (0..<count).map { _ in Counter() }
        threads = .allocate(capacity: max(1, count))
        threads.initialize(repeating: pthread_t())
    }
    deinit { threads.deallocate() }

    func ran(_ index: Int) {
        counts[index].value.add(1, ordering: .relaxed)
        threads[index] = pthread_self()
    }
    var everyIndexOnce: Bool { counts.allSatisfy { $0.load() == 1 } }
    func indicesRunOffThisThread(_ count: Int) -> Int {
        (0..<count).filter { pthread_equal(threads[$0], pthread_self()) == 0 }.count
    }
}

@Suite struct HelperThreadTests {
    /// Loops of any length, shared or not, run every index exactly once, and what the iterations
    /// wrote (a plain, unsynchronised buffer) is visible to the caller once `forEach` returns.
    @Test(arguments: testSeeds([1, 2, 3]))
    func everyIterationRunsOnceWhateverTheLength(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let helper = HelperThread(name: "test helper", minimumToShare: 16, chunk: 1 + Int(random.next() % 8))
        for round in 0..<200 {
            let count = [0, 1, 15, 16, 17, 64][round % 6] + (round < 6 ? 0 : Int(random.next() % 3000))
            let runs = Runs(count)
            helper.forEach(count) { runs.ran($0) }
            #expect(runs.everyIndexOnce, "\(count) iterations, chunk \(helper.chunk): \(replayHint(seed))")
            if !runs.everyIndexOnce { return }
        }
    }

    /// A long loop is shared: the caller's first iteration waits until the helper has run one.
    /// (Bounded, so a helper that never came fails the test instead of hanging it.)
    @Test func theHelperTakesPartInALongLoop() {
        // Exactly `minimumToShare` iterations: the shortest loop that is shared.
        let helper = HelperThread(name: "test helper", minimumToShare: 64, chunk: 1)
        let count = 64
        let runs = Runs(count)
        let caller = pthread_self()
        helper.forEach(count) { index in
            if pthread_equal(pthread_self(), caller) != 0, index == 0 {
                let start = ContinuousClock.now
                while helper.iterationsHelped == 0, runs.counts[1...].allSatisfy({ $0.load() == 0 }),
                      ContinuousClock.now - start < .seconds(10) {
                    usleep(100)
                }
            }
            runs.ran(index)
        }
        #expect(runs.everyIndexOnce)
        #expect(runs.indicesRunOffThisThread(count) > 0, "the helper ran some of the iterations")
        #expect(helper.iterationsHelped == runs.indicesRunOffThisThread(count))
    }

    /// A loop shorter than `minimumToShare` runs on the caller alone (no thread is woken for it).
    @Test func aShortLoopRunsOnTheCallerOnly() {
        let helper = HelperThread(name: "test helper", minimumToShare: 64)
        let runs = Runs(63)
        helper.forEach(63) { index in
            usleep(200)  // slow enough that a helper, had it been offered the loop, would take some
            runs.ran(index)
        }
        #expect(runs.everyIndexOnce)
        #expect(runs.indicesRunOffThisThread(63) == 0)
        #expect(helper.iterationsHelped == 0)
    }

    /// Callers on several threads at once: the helper takes one loop at a time, the others run
    /// alone, and every loop still runs each index once.
    @Test func concurrentCallersEachGetTheirWholeLoop() {
        let helper = HelperThread(name: "test helper", minimumToShare: 8, chunk: 2)
        let failures = Atomic(0)
        let threads = TestThreads(4) { caller in
            for round in 0..<100 {
                let runs = Runs(8 + (caller * 37 + round * 11) % 500)
                helper.forEach(runs.counts.count) { runs.ran($0) }
                if !runs.everyIndexOnce { failures.add(1, ordering: .relaxed) }
            }
        }
        threads.join()
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    /// A helper that goes away ends its thread (no thread of its name is left, within a bounded
    /// wait); a new one works from the start. Threads are counted by name, so other tests'
    /// threads, running meanwhile, do not count.
    @Test func helpersComeAndGo() {
        let name = "come and go"
        for _ in 0..<20 {
            let helper = HelperThread(name: name, minimumToShare: 4, chunk: 1)
            let runs = Runs(100)
            helper.forEach(100) { index in
                usleep(20)  // long enough that the helper wakes and is started for certain
                runs.ran(index)
            }
            #expect(runs.everyIndexOnce)
            #expect(Self.threads(named: name) >= 1, "the helper's thread runs while the helper exists")
        }
        let start = ContinuousClock.now
        while Self.threads(named: name) > 0, ContinuousClock.now - start < .seconds(10) { usleep(1000) }
        #expect(Self.threads(named: name) == 0, "the helpers' threads ended")
    }

    /// A loop that finds the helper busy with another caller's loop runs alone, at once: the
    /// second caller never waits for the first one's loop.
    @Test func aCallerFindingTheHelperBusyRunsAlone() {
        let helper = HelperThread(name: "test helper", minimumToShare: 2, chunk: 1)
        let release = Atomic(false)
        let firstStarted = Atomic(false)
        let first = TestThreads(1) { _ in
            helper.forEach(4) { _ in
                firstStarted.store(true, ordering: .releasing)
                let start = ContinuousClock.now
                while !release.load(ordering: .acquiring), ContinuousClock.now - start < .seconds(10) { usleep(100) }
            }
        }
        let start = ContinuousClock.now
        while !firstStarted.load(ordering: .acquiring), ContinuousClock.now - start < .seconds(10) { usleep(100) }
        let runs = Runs(50)
        let caller = ContinuousClock.now
        helper.forEach(50) { runs.ran($0) }
        let took = ContinuousClock.now - caller
        release.store(true, ordering: .releasing)
        first.join()
        #expect(runs.everyIndexOnce)
        #expect(took < .seconds(5), "the second loop waited for the first (\(took))")
    }

    /// Threads of this process now whose name (/proc/self/task/TID/comm) is `name`.
    static func threads(named name: String) -> Int {
        guard let dir = opendir("/proc/self/task") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard tid != ".", tid != "..", let file = fopen("/proc/self/task/\(tid)/comm", "r") else { continue }
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 64)
            guard fgets(&line, Int32(line.count), file) != nil else { continue }
            let comm = String(decoding: line.prefix { $0 != 0 && $0 != 0x0A }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if comm == name { count += 1 }
        }
        return count
    }
}
