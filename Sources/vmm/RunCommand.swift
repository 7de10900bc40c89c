import ArgumentParser
import VMM

/// `vmm run [GUEST.elf]`: boot one guest and exit with its status.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot a guest or a kernel and exit with its status.",
        discussion: """
            The boot protocol comes from the image, tried in this order: a Multiboot header in the \
            first 8 KiB, a PVH entry note, Linux's own (a bzImage's setup header, or a vmlinux's \
            Linux note), then this project's ELF64 protocol, whose guests start in 64-bit long mode \
            on every vCPU (README: "Boot protocols"). --boot-protocol insists on one. --cmdline \
            reaches the kernel by its protocol's own means; each --initrd becomes a module (Linux \
            takes one initrd).

            Exit status: a guest ends the run by writing a value V to port 0xF4. V = 0 passes \
            (status 0); any other V fails with status (V << 1 | 1) & 0xFF, as with QEMU's \
            isa-debug-exit. A timeout exits with 124, a vCPU that stops on an exit it cannot go on \
            from (an emulation failure, say) with 126, a host-side error with 2, and a guest that \
            powers the pc machine off (ACPI S5) or resets it (the keyboard controller's 0xFE, \
            Linux's reboot=k) with 4.

            Examples:
              vmm run                                  (the built-in hello guest)
              vmm run .build/guests/smp.elf --vcpus 4
              vmm run kernel.elf --cmdline "console=ttyS0" --initrd initrd.img
              vmm run vmlinux --memory 128 --cmdline "console=ttyS0 reboot=k" --initrd initramfs.cpio
              vmm run guest.elf --dump-dtb machine.dtb && dtc -I dtb -O dts machine.dtb
            """
    )

    @Argument(help: "The guest ELF to boot (default: the built-in hello guest).")
    var guest: String?

    @OptionGroup var machine: MachineOptions

    @Option(name: .long, help: "auto (the image's own), multiboot, pvh, linux or elf64.")
    var bootProtocol: String = RunRequest.defaults.bootProtocol

    @Option(name: .long, help: "A file handed to the kernel as a module (Multiboot, PVH; repeatable, in order) or as its initrd (Linux, one).")
    var initrd: [String] = []

    @Option(name: .customLong("machine"), help: "auto (pc for Multiboot, PVH and Linux kernels, vmm for ELF64 guests), vmm or pc.")
    var machineKind: String = RunRequest.defaults.machineKind

    @Option(name: .long, help: "Write the machine's device tree blob to FILE and exit without running (read it with: dtc -I dtb -O dts FILE).")
    var dumpDtb: String?

    @Option(name: .long, help: "Write the boot plan for the image (what goes into RAM, where the first vCPU starts) to FILE and exit without running; Scripts/bench/linux-loop.c boots it.")
    var dumpBoot: String?

    @Option(name: .long, help: "A raw disk image as a virtio-blk device (FILE or FILE,readonly); repeatable, one device each.")
    var disk: [String] = []

    @Flag(name: .customLong("virtio-rng"), help: "Add a virtio-rng device fed by the host's getrandom.")
    var virtioRNG = false

    @Flag(name: .long, help: "Print exit counts and the run's duration on standard error: exits_io=N exits_mmio=N ns=T.")
    var stats = false

    func validate() throws {
        try request.validateRun()
        for spec in disk { _ = try RunRequest.parseDisk(spec) }
    }

    /// What was asked for, as the fast path would have read it.
    var request: RunRequest {
        var request = RunRequest(guest: guest)
        machine.apply(to: &request)
        request.bootProtocol = bootProtocol
        request.initrd = initrd
        request.machineKind = machineKind
        request.dumpDtb = dumpDtb
        request.stats = stats
        request.disks = disk
        request.dumpBoot = dumpBoot
        request.virtioRNG = virtioRNG
        return request
    }

    func run() throws {
        try request.run()
    }
}
