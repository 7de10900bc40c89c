import Devices
import Platform
import Testing
import TestSupport
import VMM

/// The README's "As a library" example, kept compiling and working.
@Suite(.enabled(if: kvmAvailable)) struct LibraryUsageTests {
    final class Scratch: BusDevice {  // reads 0x2A, ignores writes
        func read(offset: UInt64, size: Int) -> UInt64 { 0x2A }
        func write(offset: UInt64, size: Int, value: UInt64) {}
    }

    @Test func theReadmeExampleBootsAGuestWithACustomDevice() throws {
        var configuration = MachineConfiguration()
        configuration.layout.vcpuCount = 2
        configuration.echoConsole = false
        let machine = try Machine(configuration)
        try machine.mmioBus.register(Scratch(), name: "scratch", base: 0xF100_0000, size: 0x1000)
        try machine.load(ELFImage(bytes: HostFile.read(guest("smp")), name: "guest.elf"))
        let outcome = machine.run(timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        #expect(machine.mmioBus.read(0xF100_0008, size: 4) == 0x2A)
    }
}
