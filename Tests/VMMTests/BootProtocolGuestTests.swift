import Foundation
import KVM
import Platform
import Testing
import TestSupport
import VMM

/// The boot-protocol guests (Guests/boot32) boot by their own protocols and check their whole
/// entry state: registers, command line, modules, memory map, RSDP. And bad images get one line
/// and status 2 from the CLI.
@Suite(.enabled(if: kvmAvailable)) struct BootProtocolGuestTests {
    static let images = ["multiboot.elf": "mb-check", "multiboot-aout.bin": "mb-check", "pvh.elf": "pvh-check"]

    /// Module files holding "vmm-module-<i>\n", as the guests expect. Each call writes files of
    /// its own: tests run in parallel, and one rewriting a file another is loading would hand
    /// that guest an empty module.
    static func moduleFiles(_ count: Int) throws -> [String] {
        let call = UUID().uuidString
        return try (0..<count).map { index in
            let path = NSTemporaryDirectory() + "vmm-boot-module-\(call)-\(index)"
            try Data("vmm-module-\(index)\n".utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    func run(_ image: String, ramMiB: UInt64 = 64, vcpus: Int = 1, modules: Int, claimedRAM: UInt64? = nil) throws -> (Machine, RunOutcome) {
        var configuration = quietConfiguration(vcpus: vcpus)
        configuration.layout.ramSize = ramMiB << 20
        configuration.layout.commandLine = "\(Self.images[image]!) ram-mib=\(claimedRAM ?? ramMiB) modules=\(modules) rsdp=none"
        return try Machine.runGuest(at: guestDirectory + "/" + image, configuration: configuration, timeout: 20,
                                    initrds: Self.moduleFiles(modules))
    }

    @Test(arguments: ["multiboot.elf", "multiboot-aout.bin", "pvh.elf"])
    func eachProtocolsGuestFindsItsEntryStateAsSpecified(image: String) throws {
        for (ram, modules) in [(64 as UInt64, 0), (128, 2)] {
            let (machine, outcome) = try run(image, ramMiB: ram, vcpus: 2, modules: modules)
            #expect(outcome == .guestExit(value: 0), "\(image), \(ram) MiB, \(modules) modules:\n\(machine.console.transcript)")
            #expect(machine.phase == .finished)
            #expect(try machine.vcpus[1].mpState() == .uninitialized, "the AP still waits for INIT/SIPI")
            let protocolName = image.hasPrefix("pvh") ? "pvh" : "multiboot"
            #expect(machine.console.transcript.contains(protocolName == "pvh" ? "pvh: entry" : "multiboot: entry eax=0x2badb002"))
        }
    }

    /// On the pc machine the PVH guest gets an RSDP (signature and checksum checked), and both
    /// guests find fw_cfg, pc-testdev, the PM timer and COM1 as QEMU's pc machine has them.
    @Test(arguments: ["multiboot.elf", "pvh.elf"])
    func onThePCMachineTheGuestsFindACPIAndQEMUsDevices(image: String) throws {
        var configuration = quietConfiguration(vcpus: 2)
        configuration.machine = .pc
        configuration.layout.commandLine = "\(Self.images[image]!) ram-mib=64 modules=1 pc-check cpus=2"
        let (machine, outcome) = try Machine.runGuest(at: guestDirectory + "/" + image, configuration: configuration, timeout: 20,
                                                      initrds: Self.moduleFiles(1))
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        #expect(machine.console.transcript.contains("pc machine: fw_cfg, pc-testdev, PM timer, COM1 answer"))
        if image == "pvh.elf" { #expect(machine.console.transcript.contains("rsdp: 0xe0000")) }
    }

    /// RAM above 4 GiB reaches each guest in its memory map (one range at 4 GiB) and in fw_cfg's
    /// RAM size; a guest told there is none finds the range and fails.
    @Test(arguments: ["multiboot.elf", "pvh.elf"])
    func highRAMIsInTheMemoryMapAndFwCfg(image: String) throws {
        for (claimed, passes) in [(64, true), (0, false)] {
            var configuration = quietConfiguration(vcpus: 1)
            configuration.machine = .pc
            configuration.layout.highRAMSize = 64 << 20
            configuration.layout.commandLine = "\(Self.images[image]!) ram-mib=64 high-mib=\(claimed) modules=0 pc-check cpus=1"
            let (machine, outcome) = try Machine.runGuest(at: guestDirectory + "/" + image, configuration: configuration, timeout: 20)
            #expect((outcome == .guestExit(value: 0)) == passes, "high-mib=\(claimed):\n\(machine.console.transcript)")
            #expect(machine.console.transcript.contains("0x100000000 0x4000000 type 1"), "\(machine.console.transcript)")
            if !passes { #expect(machine.console.transcript.contains("RAM above 4 GiB is not the high-mib given")) }
        }
    }

    /// The guests' checks can fail: told the wrong RAM size, each reports it.
    @Test(arguments: ["multiboot.elf", "pvh.elf"])
    func aWrongExpectationFailsTheGuest(image: String) throws {
        let (machine, outcome) = try run(image, modules: 1, claimedRAM: 32)
        #expect(outcome == .guestExit(value: 1))
        #expect(machine.console.transcript.contains("FAIL: "), "\(machine.console.transcript)")
    }

    /// Bad images and inputs: one line naming the problem, exit status 2.
    @Test func badImagesGetOneLineAndStatus2() throws {
        let directory = NSTemporaryDirectory() + "vmm-bad-images-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A Multiboot ELF with a corrupted checksum.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestDirectory + "/multiboot.elf")))
        let header = try #require(MultibootBootProtocol.findHeader(in: bytes))
        bytes[header.offset + 8] ^= 0x01
        let badChecksum = directory + "/bad-checksum.elf"
        try Data(bytes).write(to: URL(fileURLWithPath: badChecksum))
        // The PVH guest with its entry note aimed at 2 GiB, far outside RAM.
        var pvh = try [UInt8](Data(contentsOf: URL(fileURLWithPath: guestDirectory + "/pvh.elf")))
        let owner = Array("Xen\0".utf8)
        let at = try #require((0..<(pvh.count - 8)).first { Array(pvh[$0..<($0 + 4)]) == owner })
        pvh.replaceSubrange((at + 4)..<(at + 8), with: [0x00, 0x00, 0x00, 0x80])
        let farEntry = directory + "/far-entry.elf"
        try Data(pvh).write(to: URL(fileURLWithPath: farEntry))
        let big = directory + "/big.img"
        try Data(count: 80 << 20).write(to: URL(fileURLWithPath: big))
        let cases: [([String], String)] = [
            (["run", badChecksum], "has a bad checksum"),
            (["run", farEntry], "pvh entry point 0x80000000 is outside 64 MiB of RAM"),
            (["run", guestDirectory + "/multiboot.elf", "--initrd", big], "does not fit in RAM"),
            (["run", guestDirectory + "/multiboot.elf", "--cmdline", String(repeating: "x", count: 5000)], "bytes is too long (at most 4095)"),
            (["run", guestDirectory + "/hello.elf", "--boot-protocol", "pvh"], "does not carry the pvh boot protocol"),
            (["run", guestDirectory + "/pvh.elf", "--boot-protocol", "multiboot"], "does not carry the multiboot boot protocol"),
            (["run", guestDirectory + "/multiboot.elf", "--boot-protocol", "elf64"], "does not carry the elf64 boot protocol"),
            (["run", guestDirectory + "/hello.elf", "--initrd", big], "cannot pass modules"),
        ]
        for (arguments, message) in cases {
            let result = runProcess(vmmExecutable, arguments)
            #expect(result.status == 2, "\(arguments): \(result.output)")
            let lines = result.output.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("vmm: error: ") && lines[0].contains(message), "\(arguments): \(result.output)")
        }
    }
}

/// vmm-qemu as kvm-unit-tests' runner calls it: the probes it runs first, and a kernel's run
/// whose status is QEMU's and whose standard error stays empty (the runner fails a pass that
/// writes to it).
@Suite(.enabled(if: kvmAvailable)) struct QEMUFrontEndProcessTests {
    static let qemu = (vmmExecutable as NSString).deletingLastPathComponent + "/vmm-qemu"
    static let common = ["--no-reboot", "-nodefaults", "-global", "kvm-pit.lost_tick_policy=discard", "-device", "pc-testdev",
                         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-display", "none", "-serial", "stdio",
                         "-device", "pci-testdev", "-machine", "accel=kvm"]

    @Test func theRunnersProbesGetTheAnswersItLooksFor() {
        let help = runProcess(Self.qemu, ["--help"])
        #expect(help.status == 0 && help.output.hasPrefix("QEMU emulator version"))
        let devices = runProcess(Self.qemu, ["-device", "?"])
        #expect(devices.output.contains("name \"pc-testdev\"") && devices.output.contains("pci-testdev"))
        let missing = runProcess(Self.qemu, Self.common + ["-kernel", "_NO_FILE_4Uhere_", "-smp", "1"])
        #expect(missing.status == 1 && missing.output.contains("could not load kernel '_NO_FILE_4Uhere_'"), "\(missing.output)")
        let refused = runProcess(Self.qemu, Self.common + ["-M", "microvm", "-kernel", "_NO_FILE_4Uhere_"])
        #expect(refused.status == 1 && !refused.output.contains("could not load kernel"), "an option refused first: \(refused.output)")
    }

    @Test func aPassingKernelExitsWithOneAndWritesNothingToStandardError() throws {
        let module = try BootProtocolGuestTests.moduleFiles(1)[0]
        let pass = runProcess(Self.qemu, Self.common + ["-kernel", guestDirectory + "/multiboot.elf", "-smp", "2", "-m", "64",
                                                        "-append", "mb-check ram-mib=64 modules=1 pc-check cpus=2", "-initrd", module])
        #expect(pass.status == 1, "isa-debug-exit 0 → (0 << 1) | 1: \(pass.output)")
        #expect(pass.output.contains("PASS") && !pass.output.contains("vmm-qemu:"), "nothing of the VMM's own: \(pass.output)")
        let fail = runProcess(Self.qemu, Self.common + ["-kernel", guestDirectory + "/multiboot.elf", "-append", "mb-check ram-mib=32 modules=0"])
        #expect(fail.status == 3, "isa-debug-exit 1 → 3: \(fail.output)")
    }
}
