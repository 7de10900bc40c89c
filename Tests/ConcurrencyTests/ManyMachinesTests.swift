import Foundation
import Platform
import Testing
import TestSupport
import VMM

/// Many machines started and stopped at once, from many threads: the test the thread model of
/// README "Threads and locks" is checked with. CI runs it under the thread sanitizer
/// (`Scripts/tsan.sh`: `swift test --sanitize=thread --filter ConcurrencyTests`), where any data
/// race between the builder's thread, the vCPU threads, the console writer, the run threads and
/// the stopping thread fails it; it also runs plainly with the other tests.
@Suite(.enabled(if: kvmAvailable)) struct ManyMachinesTests {
    static func image(_ name: String) throws -> ELFImage {
        try ELFImage(bytes: try HostFile.read(guest(name)), name: name)
    }

    /// Eight machines at once, in two rounds: half run `hello` to its exit, half run `spin` (two
    /// vCPUs each) until a thread of their own stops them; each gets the outcome it should.
    @Test func manyMachinesStartAndStopAtOnce() async throws {
        let hello = try Self.image("hello"), spin = try Self.image("spin")
        for round in 0..<2 {
            let outcomes = try await withThrowingTaskGroup(of: (Int, RunOutcome).self) { group in
                for index in 0..<8 {
                    group.addTask {
                        var configuration = MachineConfiguration()
                        configuration.echoConsole = false
                        configuration.log = { _ in }
                        configuration.layout.vcpuCount = index % 2 == 0 ? 1 : 2
                        let machine = try Machine(configuration)
                        try machine.load(index % 2 == 0 ? hello : spin, name: index % 2 == 0 ? "hello" : "spin")
                        if index % 2 == 1 {
                            // Stopped from a thread of its own, while it runs (stop before the run is a no-op: retry).
                            Thread.detachNewThread {
                                while machine.phase != .finished {
                                    usleep(20_000)
                                    machine.stop()
                                }
                            }
                        }
                        return (index, await machine.run(timeout: 60))
                    }
                }
                var all: [Int: RunOutcome] = [:]
                for try await (index, outcome) in group { all[index] = outcome }
                return all
            }
            for (index, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
                #expect(outcome == (index % 2 == 0 ? .guestExit(value: 0) : .stopped), "round \(round), machine \(index): \(outcome)")
            }
        }
    }
}
