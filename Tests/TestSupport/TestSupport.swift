import KVM

#if canImport(Glibc)
import Glibc
#endif

/// Why /dev/kvm cannot be opened here, or nil when it can.
public let kvmUnavailableReason: String? = {
    do {
        _ = try KVMSystem()
        return nil
    } catch {
        return "\(error)"
    }
}()

/// Whether KVM tests can run: /dev/kvm opens. They skip, with the reason printed, only where it
/// does not (on the project's machines it does, and they run). With `VMM_REQUIRE_KVM=1` (CI sets
/// it) a missing KVM is a failure instead: see `kvmRequirementIsMet`.
public let kvmAvailable: Bool = {
    guard let reason = kvmUnavailableReason else { return true }
    print("skipping KVM tests: \(reason)" + (kvmRequired ? " (VMM_REQUIRE_KVM=1: this run fails)" : ""))
    return false
}()

/// `VMM_REQUIRE_KVM=1` in the environment: KVM tests may not skip.
public let kvmRequired: Bool = environment("VMM_REQUIRE_KVM") == "1"

/// False when KVM is required and cannot be opened: a test target that has KVM tests asserts it,
/// so a CI run whose KVM tests would all skip fails instead.
public var kvmRequirementIsMet: Bool { !kvmRequired || kvmAvailable }

/// The seeds a randomized test runs with: the fixed list CI runs, or only `VMM_TEST_SEED`
/// (decimal or 0x-prefixed hex) when it is set, to replay a failure. Tests take the seed as their
/// argument, so Swift Testing names it in every failure; messages add `replayHint(seed)`.
public func testSeeds(_ defaults: [UInt64]) -> [UInt64] {
    guard let text = environment("VMM_TEST_SEED") else { return defaults }
    let lower = text.lowercased()
    guard let seed = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower) else {
        print("VMM_TEST_SEED=\(text) is not a number; running the default seeds")
        return defaults
    }
    return [seed]
}

/// "seed S (replay: VMM_TEST_SEED=S swift test --filter NAME)", for failure messages.
public func replayHint(_ seed: UInt64, _ test: String = #function) -> String {
    let name = test.split(separator: "(").first.map(String.init) ?? test
    return "seed \(seed) (replay: VMM_TEST_SEED=\(seed) swift test --filter \(name))"
}

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// A small deterministic generator (SplitMix64), so randomized tests replay the same way.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Threads of their own for concurrency tests (Dispatch's pool may start a block late, or not
/// at all while its threads are blocked): `body(i)` runs on thread i of `count`, all at once.
public final class TestThreads: Sendable {
    private nonisolated(unsafe) var handles: [pthread_t] = []

    public init(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        for index in 0..<count {
            let box = Unmanaged.passRetained(Body { body(index) }).toOpaque()
            var handle = pthread_t()
            let r = pthread_create(&handle, nil, { raw in
                let work = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
                work.run()
                return nil
            }, box)
            precondition(r == 0, "pthread_create failed: \(r)")
            handles.append(handle)
        }
    }

    /// Waits for every thread to finish. Call once, from the thread that made them.
    public func join() {
        for handle in handles { pthread_join(handle, nil) }
        handles = []
    }

    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}

/// The little-endian value of `size` bytes (at most 8) of `bytes` from `offset`: how tests read
/// back the files and registers the VMM lays out.
public func littleEndian(_ bytes: [UInt8], at offset: Int, size: Int = 8) -> UInt64 {
    (0..<size).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
}
