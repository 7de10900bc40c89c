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
    /// Watches COM1's transmit register for marker lines, and notes when each first went by.
    final class ConsoleClock: Sendable {
        private let markers: [[UInt8]]
        private let state: Locked<(matched: [Int], at: [ContinuousClock.Instant?])>
        let start = ContinuousClock.now

        init(markers: [String]) {
            self.markers = markers.map { Array($0.utf8) }
            state = Locked((Array(repeating: 0, count: markers.count), Array(repeating: nil, count: markers.count)))
        }

        func observe(_ event: ExitEvent) {
            guard event.kind == .portWrite, event.address == 0x3F8 else { return }
            let byte = UInt8(truncatingIfNeeded: event.value)
            state.withLock { s in
                for (i, marker) in markers.enumerated() where s.at[i] == nil {
                    s.matched[i] = byte == marker[s.matched[i]] ? s.matched[i] + 1 : (byte == marker[0] ? 1 : 0)
                    if s.matched[i] == marker.count { s.at[i] = .now }
                }
            }
        }

        /// Seconds from the clock's start to marker `index`, if it went by.
        func seconds(_ index: Int) -> Double? {
            state.withLock { s in s.at[index].map { ($0 - start) / .seconds(1) } }
        }
    }

    /// What the clock watches for: /init, and the disk test's marks (each line ends in CR).
    static let markers = ["vmm-linux: init", "vmm-linux: mark read\r", "vmm-linux: mark read done", "vmm-linux: mark copy\r", "vmm-linux: mark copy done"]

    struct Boot {
        let machine: Machine
        let outcome: RunOutcome
        let secondsToInit: Double?
        let clock: ConsoleClock
        var transcript: String { machine.console.transcript }
    }

    func boot(_ image: String, protocolName: String? = nil, ramMiB: UInt64 = 128, timeout: Double = 120,
              extraCommandLine: String = "", devices: [any MachineComponent] = []) throws -> Boot? {
        guard let directory = linuxGuest.directory else {
            Issue.record("the Linux guest could not be built (Scripts/build-linux-guest.sh):\n\(linuxGuest.output)")
            return nil
        }
        let clock = ConsoleClock(markers: Self.markers)
        var configuration = quietConfiguration()
        configuration.machine = .pc
        configuration.layout.ramSize = ramMiB << 20
        configuration.layout.commandLine = linuxCommandLine + extraCommandLine
        configuration.exitObserver = { clock.observe($0) }
        configuration.devices = devices
        configuration.testDevices = devices.isEmpty ? 1 : 0
        let (machine, outcome) = try Machine.runGuest(at: directory + "/" + image, configuration: configuration, timeout: timeout,
                                                      protocolName: protocolName, initrds: [directory + "/initramfs.cpio"])
        return Boot(machine: machine, outcome: outcome, secondsToInit: clock.seconds(0), clock: clock)
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
        #expect(FileManager.default.createFile(atPath: huge, contents: Data(count: 40 << 20)), "the test file could not be made")
        defer { try? FileManager.default.removeItem(atPath: huge) }
        configuration.layout.ramSize = 48 << 20
        do {
            _ = try Machine.runGuest(at: directory + "/bzImage", configuration: configuration, timeout: 5, initrds: [huge])
            Issue.record("a 40 MiB initrd was accepted in 48 MiB of RAM")
        } catch {
            #expect("\(error)".hasPrefix("initrd \(huge) (40 MiB) does not fit between the kernel's end"), "\(error)")
        }
    }

    /// The count column of every /proc/interrupts line the guest printed under `label`, by the
    /// interrupt's name (its last column), with the line's chip text.
    static func interrupts(_ transcript: String, label: String) -> [String: (count: UInt64, line: String)] {
        var result: [String: (UInt64, String)] = [:]
        // The console's lines end in CR LF, one Character in Swift: split at any newline.
        for line in transcript.split(whereSeparator: \.isNewline) where line.hasPrefix("vmm-linux: irq \(label) ") {
            let fields = line.split(separator: " ").dropFirst(3)
            guard let name = fields.last, fields.count >= 3, let count = UInt64(fields.dropFirst().first ?? "") else { continue }
            result[String(name)] = (count, String(line))
        }
        return result
    }

    /// Linux's own drivers on our virtio-rng and virtio-blk: both found, MSI-X lines for each
    /// device's config and queue vectors, interrupt counts that grow as the guest reads 64 KiB
    /// of entropy and copies 8 MiB on the disk (twice, the second time timed); the image then holds what the guest wrote, the
    /// guest read what the host put there, and after 20 unbind/bind cycles per device and a last
    /// unbind every vector is released and no route or irqfd is left.
    @Test func linuxDriversUseVirtioRNGAndVirtioBlkThroughMSIX() throws {
        let image = NSTemporaryDirectory() + "vmm-linux-disk-\(UUID().uuidString).img"
        var pattern = SplitMix64(seed: 0xD15C)
        let firstHalf = (0..<(8 << 17)).flatMap { _ in withUnsafeBytes(of: pattern.next()) { Array($0) } }
        #expect(FileManager.default.createFile(atPath: image, contents: Data(firstHalf + [UInt8](repeating: 0, count: 16 << 20))), "the test file could not be made")
        defer { try? FileManager.default.removeItem(atPath: image) }
        #expect(FileManager.default.createFile(atPath: image + ".first", contents: Data(firstHalf)), "the test file could not be made")
        defer { try? FileManager.default.removeItem(atPath: image + ".first") }
        let sum = String(runProcess("/usr/bin/md5sum", [image + ".first"]).output.prefix(32))

        let rng = VirtioComponent.entropy(), disk = VirtioComponent.disk(path: image, readOnly: false)
        let started = ContinuousClock.now
        guard let run = try boot("vmlinux", timeout: 300, extraCommandLine: " vmm_rng=1 vmm_disk_md5=\(sum) vmm_rebind=20 vmm_unbind=1",
                                 devices: [rng, disk]) else { return }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let t = run.transcript
        #expect(run.outcome == .poweredOff(reason: "reset by the keyboard controller (0xFE to port 0x64)"), "\(t)")
        for check in ["ok hwrng read 65536 bytes", "ok disk read what the host wrote", "ok disk wrote and synced 8 MiB",
                      "ok disk read back what it wrote", "ok rebind 0x1044 20 times", "ok rebind 0x1042 20 times", "unbound", "done"] {
            #expect(t.contains("vmm-linux: \(check)"), "\(check):\n\(t)")
        }
        #expect(!t.contains("vmm-linux: not ok"), "\(t)")

        let before = Self.interrupts(t, label: "before"), after = Self.interrupts(t, label: "after")
        for name in ["virtio0-config", "virtio0-input", "virtio1-config", "virtio1-req.0"] {
            #expect(before[name]?.line.contains("PCI-MSI") == true, "\(name) is an MSI-X line: \(before[name]?.line ?? "missing")\n\(t)")
        }
        #expect((after["virtio0-input"]?.count ?? 0) > (before["virtio0-input"]?.count ?? 0), "entropy interrupts grow")
        #expect((after["virtio1-req.0"]?.count ?? 0) > (before["virtio1-req.0"]?.count ?? 0), "disk interrupts grow")

        let written = Array((try? Data(contentsOf: URL(fileURLWithPath: image))) ?? Data())
        #expect(written.count == 24 << 20)
        #expect(Array(written[(8 << 20)..<(16 << 20)]) == firstHalf, "the guest's copy is on the image")
        #expect(Array(written[(16 << 20)...]) == firstHalf, "and its timed copy")
        #expect(Array(written[..<(8 << 20)]) == firstHalf, "the host's half is untouched")

        for component in [rng, disk] {
            let transport = try #require(component.transport)
            #expect(transport.msix.vectorsInUse == 0, "\(component.name): every use released")
            #expect(transport.msix.attachedIRQFDs == 0, "\(component.name): no irqfd left")
        }
        #expect(run.machine.routes.msiRoutes.isEmpty, "no MSI route left: \(run.machine.routes.msiRoutes)")
        // Throughput inside the guest (each time includes starting dd, about 0.7 s here), next to
        // dd on the image from the host.
        func interval(_ from: Int, _ to: Int) -> Double? {
            guard let a = run.clock.seconds(from), let b = run.clock.seconds(to), b > a else { return nil }
            return b - a
        }
        let read = interval(1, 2), copy = interval(3, 4)
        func hostDD(_ arguments: [String]) -> String {
            runProcess("/bin/dd", arguments + ["bs=1M", "count=8"]).output.split(whereSeparator: \.isNewline).last.map(String.init) ?? "?"
        }
        let hostRead = hostDD(["if=\(image)", "of=/dev/null", "iflag=direct"])
        // The write goes to a file beside the image (the image's checks are done), synced as the guest's is.
        let scratch = image + ".host-write"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let hostWrite = hostDD(["if=\(image)", "of=\(scratch)", "oflag=direct", "conv=fsync"])
        if let read, let copy, copy > read {
            print("linux: virtio-blk in the guest (direct I/O, each time including dd's start): 8 MiB read in "
                  + String(format: "%.2f s (%.1f MiB/s); read and written in %.2f s (write %.1f MiB/s)", read, 8 / read, copy, 8 / (copy - read))
                  + "; host dd on the image: read \(hostRead); copy (direct, fsync) \(hostWrite)")
        }
        print("linux: virtio run: \(String(format: "%.1f", seconds)) s in all, /init after \(String(format: "%.2f", run.secondsToInit ?? -1)) s")
    }
}
