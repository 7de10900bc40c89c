import ArgumentParser
import GuestSuite
import Platform
import VMM

#if canImport(Glibc)
import Glibc
#endif

/// `vmm run [GUEST.elf]`: boot one guest and exit with its status.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot a guest or a kernel and exit with its status.",
        discussion: """
            The boot protocol comes from the image, tried in this order: a Multiboot header in the \
            first 8 KiB, a PVH entry note, then this project's ELF64 protocol, whose guests start in \
            64-bit long mode on every vCPU (README: "Boot protocols"). --boot-protocol insists on \
            one. --cmdline reaches the kernel by its protocol's own means; each --initrd becomes a \
            module.

            Exit status: a guest ends the run by writing a value V to port 0xF4. V = 0 passes \
            (status 0); any other V fails with status (V << 1 | 1) & 0xFF, as with QEMU's \
            isa-debug-exit. A timeout exits with 124, a vCPU that stops on an exit it cannot go on \
            from (an emulation failure, say) with 126, a host-side error with 2, and a guest that \
            powers the pc machine off (ACPI S5) with 4.

            Examples:
              vmm run                                  (the built-in hello guest)
              vmm run .build/guests/smp.elf --vcpus 4
              vmm run kernel.elf --cmdline "console=ttyS0" --initrd initrd.img
              vmm run guest.elf --dump-dtb machine.dtb && dtc -I dtb -O dts machine.dtb
            """
    )

    @Argument(help: "The guest ELF to boot (default: the built-in hello guest).")
    var guest: String?

    @OptionGroup var machine: MachineOptions

    @Option(name: .long, help: "auto (the image's own), multiboot, pvh or elf64.")
    var bootProtocol: String = "auto"

    @Option(name: .long, help: "A file handed to the kernel as a module (Multiboot, PVH); repeatable, in order.")
    var initrd: [String] = []

    @Option(name: .customLong("machine"), help: "auto (pc for Multiboot and PVH kernels, vmm for ELF64 guests), vmm or pc.")
    var machineKind: String = "auto"

    @Option(name: .long, help: "Write the machine's device tree blob to FILE and exit without running (read it with: dtc -I dtb -O dts FILE).")
    var dumpDtb: String?

    @Flag(name: .long, help: "Print exit counts and the run's duration on standard error: exits_io=N exits_mmio=N ns=T.")
    var stats = false

    func validate() throws {
        guard machineKind == "auto" || MachineKind(rawValue: machineKind) != nil else {
            throw ValidationError("--machine must be auto, vmm or pc, not '\(machineKind)'")
        }
        guard BootProtocols.names.contains(bootProtocol) else {
            throw ValidationError("--boot-protocol must be one of \(BootProtocols.names.joined(separator: ", ")), not '\(bootProtocol)'")
        }
    }

    func run() throws {
        if let dumpDtb {
            do {
                try HostFile.write(try machine.configuration().deviceTree(), to: dumpDtb)
            } catch {
                fail("\(error)")
            }
            return
        }
        let path: String
        if let guest {
            path = guest
        } else if let builtIn = BuiltInGuests.path(of: "hello") {
            path = builtIn
        } else {
            fail("the built-in hello guest is not built; run Scripts/build-guests.sh (searched \(BuiltInGuests.searchDirectories().first ?? "nothing"))")
        }
        let outcome: RunOutcome
        do {
            var configuration = machine.configuration()
            if let kind = MachineKind(rawValue: machineKind) { configuration.machine = kind }
            let (vm, result) = try Machine.runGuest(at: path, configuration: configuration, timeout: machine.timeout,
                                                    protocolName: bootProtocol, initrds: initrd, choosingMachine: machineKind == "auto")
            outcome = result
            if stats { report(vm.statistics.line) }
        } catch {
            fail("\(error)")
        }
        if !outcome.passed || !machine.quiet { report(outcome.description) }
        throw ExitCode(outcome.exitStatus)
    }
}

/// Prints "vmm: <message>" on standard error.
func report(_ message: String) {
    MachineConfiguration.standardError(message)
}

/// Prints "vmm: error: <message>" on standard error and exits with status 2.
func fail(_ message: String) -> Never {
    report("error: " + message)
    exit(2)
}
