import KVM

/// Whether KVM tests can run: /dev/kvm opens. They skip, with this reason printed, only where it
/// does not (on the project's machines it does, and they run).
public let kvmAvailable: Bool = {
    let present = (try? KVMSystem()) != nil
    if !present { print("skipping KVM tests: /dev/kvm cannot be opened on this machine") }
    return present
}()

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

#if canImport(Glibc)
import Glibc
#endif

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
