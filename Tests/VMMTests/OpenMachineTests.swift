#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import KVM
import Platform
import Synchronization
import Testing
import TestSupport
import VMM

/// The machine's extension points: a CPUID policy, an exit observer, async run and stop.
@Suite(.enabled(if: kvmAvailable)) struct OpenMachineTests {
    final class RecordingCPUID: CPUIDPolicy {
        let seen = Mutex<Set<Int>>([])
        func adjust(_ entry: inout CPUIDEntry, vcpu: Int, apicID: UInt32) {
            StandardCPUID().adjust(&entry, vcpu: vcpu, apicID: apicID)
            seen.withLock { _ = $0.insert(vcpu) }
        }
    }

    @Test func theCPUIDPolicyAdjustsEveryVCPUsTable() throws {
        var configuration = quietConfiguration(vcpus: 2)
        let policy = RecordingCPUID()
        configuration.cpuid = policy
        _ = try Machine(configuration)
        #expect(policy.seen.withLock { $0 } == [0, 1])
        var leaf1 = CPUIDEntry(function: 1, ebx: 0x00AB_CDEF)
        StandardCPUID().adjust(&leaf1, vcpu: 1, apicID: 5)
        #expect(leaf1.ebx == 0x05AB_CDEF, "APIC ID in EBX[31:24], the rest kept")
        var leafB = CPUIDEntry(function: 0xB, edx: 0)
        StandardCPUID().adjust(&leafB, vcpu: 1, apicID: 3)
        #expect(leafB.edx == 3)
    }

    /// An exit hook that counts exits per port, as an experiment would.
    @Test func theExitObserverSeesEveryPortAndMMIOExitWithItsValue() throws {
        var configuration = quietConfiguration()
        let perPort = Mutex<[UInt64: Int]>([:]), probeMMIO = Mutex<[ExitEvent]>([])
        configuration.exitObserver = { event in
            switch event.kind {
            case .portRead, .portWrite: perPort.withLock { $0[event.address, default: 0] += 1 }
            case .mmioRead, .mmioWrite:
                if event.address >> 12 == 0xF_0000 { probeMMIO.withLock { $0.append(event) } }
            }
        }
        let (machine, outcome) = try Machine.runGuest(at: guest("exits"), configuration: configuration, timeout: 10)
        #expect(outcome == .guestExit(value: 0))
        let counts = perPort.withLock { $0 }
        #expect(counts[0xE0] == 6, "three writes and three reads of the probe port: \(counts)")
        #expect(counts[0xF4] == 1, "the exit port")
        #expect(counts[0x3F8, default: 0] == machine.console.transcript.utf8.count, "one exit per console byte")
        let mmio = probeMMIO.withLock { $0 }
        #expect(mmio.count == 8)
        #expect(mmio.first == ExitEvent(kind: .mmioWrite, vcpu: 0, address: 0xF000_0000, size: 1, value: 0x12))
        #expect(mmio.last == ExitEvent(kind: .mmioRead, vcpu: 0, address: 0xF000_0018, size: 8, value: 0xFEDC_BA98_7654_3210))
    }

    @Test func anAsyncRunCanBeStoppedFromOutside() async throws {
        let machine = try Machine(quietConfiguration(vcpus: 2))
        try machine.load(ELFImage(bytes: HostFile.read(guest("spin")), name: "spin"))
        machine.stop()  // not running yet: no effect
        // The stop comes from a thread of its own, and is timed there with blocking waits: under
        // the full suite the cooperative pool is busy with blocking tests, so nothing here may
        // depend on a task being scheduled promptly. `run` starts its thread before it suspends.
        let stopTook = Mutex<Duration?>(nil)
        let stopper = TestThreads(1) { _ in
            let clock = ContinuousClock(), begin = clock.now
            while machine.phase != .running, clock.now - begin < .seconds(60) { usleep(1000) }
            usleep(200_000)
            let stopped = clock.now
            machine.stop()
            while machine.phase != .finished, clock.now - stopped < .seconds(30) { usleep(1000) }
            stopTook.withLock { $0 = clock.now - stopped }
        }
        let outcome = await machine.run(timeout: 60)
        stopper.join()
        #expect(outcome == .stopped)
        let took = stopTook.withLock { $0 }
        #expect(took.map { $0 < .seconds(10) } == true, "stopped promptly, not at the 60 s timeout: \(String(describing: took))")
        #expect(RunOutcome.stopped.exitStatus == 130)
        #expect(machine.phase == .finished)
    }
}
