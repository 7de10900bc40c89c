import Devices
import Platform
import Synchronization
import Testing
import TestSupport
import VMM

/// The README's "As a library" example, kept compiling and working.
@Suite(.enabled(if: kvmAvailable)) struct LibraryUsageTests {
    final class Scratch: BusDevice {  // reads 0x2A, ignores writes (and counts reads, for the test)
        let reads = Atomic<Int>(0)
        func read(offset: UInt64, size: Int) -> UInt64 {
            reads.add(1, ordering: .relaxed)
            return 0x2A
        }
        func write(offset: UInt64, size: Int, value: UInt64) {}
    }

    @Test func theReadmeExampleBootsAGuestWithACustomDevice() throws {
        var configuration = MachineConfiguration()
        configuration.layout.vcpuCount = 2
        configuration.echoConsole = false
        let machine = try Machine(configuration)
        let scratch = Scratch()
        try machine.mmioBus.register(scratch, name: "scratch", base: 0xF100_0000, size: 0x1000)
        try machine.load(ELFImage(bytes: HostFile.read(guest("scratch")), name: "guest.elf"))
        let outcome = machine.run(timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        // The guest read the device from both vCPUs, and passed only because it read 0x2A.
        let reads = scratch.reads.load(ordering: .relaxed)
        #expect(reads == 2, "\(reads) reads")
        #expect(machine.console.transcript.contains("scratch: vCPU 0 read 0x2a"))
        #expect(machine.console.transcript.contains("scratch: vCPU 1 read 0x2a"))
    }
}
