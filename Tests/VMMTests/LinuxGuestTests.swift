import Foundation
import Platform
import Testing
import TestSupport
import Threads
import VMM

/// Linux boots on the pc machine the ways other VMMs boot it: a vmlinux by its PVH note and by
/// the Linux boot protocol's 64-bit entry, and a bzImage by the same protocol. Its /init
/// (Guests/linux/init) prints what it found and resets the machine through the keyboard
/// controller (`reboot=k`). Each test prints the time from the start of the run to /init.
@Suite(.enabled(if: kvmAvailable)) struct LinuxGuestTests {
    /// Watches COM1's transmit register for a marker line, and notes when it went by.
    final class ConsoleClock: Sendable {
        private let marker: [UInt8]
        private let state = Locked((matched: 0, at: ContinuousClock.Instant?.none))
        let start = ContinuousClock.now

        init(marker: String) { self.marker = Array(marker.utf8) }

        func observe(_ event: ExitEvent) {
            guard event.kind == .portWrite, event.address == 0x3F8 else { return }
            let byte = UInt8(truncatingIfNeeded: event.value)
            state.withLock { s in
                guard s.at == nil else { return }
                s.matched = byte == marker[s.matched] ? s.matched + 1 : (byte == marker[0] ? 1 : 0)
                if s.matched == marker.count { s.at = .now }
            }
        }

        /// Seconds from the clock's start to the marker, if it went by.
        var seconds: Double? {
            state.withLock { s in s.at.map { ($0 - start) / .seconds(1) } }
        }
    }

    struct Boot {
        let machine: Machine
        let outcome: RunOutcome
        let secondsToInit: Double?
        var transcript: String { machine.console.transcript }
    }

    func boot(_ image: String, protocolName: String? = nil, ramMiB: UInt64 = 128, timeout: Double = 120) throws -> Boot? {
        guard let directory = linuxGuest.directory else {
            Issue.record("the Linux guest could not be built (Scripts/build-linux-guest.sh):\n\(linuxGuest.output)")
            return nil
        }
        let clock = ConsoleClock(marker: "vmm-linux: init")
        var configuration = quietConfiguration()
        configuration.machine = .pc
        configuration.layout.ramSize = ramMiB << 20
        configuration.layout.commandLine = linuxCommandLine
        configuration.exitObserver = { clock.observe($0) }
        let (machine, outcome) = try Machine.runGuest(at: directory + "/" + image, configuration: configuration, timeout: timeout,
                                                      protocolName: protocolName, initrds: [directory + "/initramfs.cpio"])
        return Boot(machine: machine, outcome: outcome, secondsToInit: clock.seconds)
    }

    @Test(arguments: [("vmlinux", "auto", "pvh"), ("vmlinux", "linux", "linux"), ("bzImage", "auto", "linux")])
    func linuxBootsToInitAndResetsTheMachine(image: String, requested: String, expected: String) throws {
        guard let run = try boot(image, protocolName: requested) else { return }
        let name = "\(image) by \(expected)"
        #expect(run.outcome == .poweredOff(reason: "reset by the keyboard controller (0xFE to port 0x64)"), "\(name):\n\(run.transcript)")
        #expect(run.transcript.contains("vmm-linux: init") && run.transcript.contains("vmm-linux: done"), "\(name):\n\(run.transcript)")
        #expect(!run.transcript.contains("Kernel panic"), "\(name):\n\(run.transcript)")
        // What the kernel read from the boot data: the command line, the memory map, the MP
        // table (with the IOAPIC the interrupts then go through), the initrd.
        #expect(run.transcript.contains("Command line: \(linuxCommandLine)"), "\(name)")
        #expect(run.transcript.contains("vmm-linux: cmdline \(linuxCommandLine)"), "\(name): /proc/cmdline")
        #expect(run.transcript.contains("BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable"), "\(name)")
        #expect(run.transcript.contains("found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]"), "\(name)")
        #expect(run.transcript.contains("IO-APIC   4-edge      ttyS0"), "\(name): COM1's interrupt by the IOAPIC")
        #expect(run.transcript.contains("Unpacking initramfs"), "\(name)")
        if let seconds = run.secondsToInit {
            print("linux: \(name): /init after \(String(format: "%.2f", seconds)) s")
        }
    }

    /// Too little RAM for the kernel: one line naming the sizes, and the machine does not run.
    @Test func aKernelThatDoesNotFitIsRefusedBeforeItRuns() throws {
        guard let directory = linuxGuest.directory else {
            Issue.record("the Linux guest could not be built:\n\(linuxGuest.output)")
            return
        }
        var configuration = quietConfiguration()
        configuration.machine = .pc
        configuration.layout.ramSize = 16 << 20
        #expect(throws: BootError.self) {
            _ = try Machine.runGuest(at: directory + "/vmlinux", configuration: configuration, timeout: 5, protocolName: "linux")
        }
        let huge = NSTemporaryDirectory() + "vmm-linux-huge-initrd-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: huge, contents: Data(count: 40 << 20))
        defer { try? FileManager.default.removeItem(atPath: huge) }
        configuration.layout.ramSize = 48 << 20
        do {
            _ = try Machine.runGuest(at: directory + "/bzImage", configuration: configuration, timeout: 5, initrds: [huge])
            Issue.record("a 40 MiB initrd was accepted in 48 MiB of RAM")
        } catch {
            #expect("\(error)".hasPrefix("initrd \(huge) (40 MiB) does not fit between the kernel's end"), "\(error)")
        }
    }
}
