// vmm-qemu: a QEMU-compatible front end. `QEMU=.build/release/vmm-qemu ./run_tests.sh` runs
// kvm-unit-tests on a vmm pc machine (README "The QEMU front end").
#if canImport(Glibc)
import Glibc
#endif
import KVM
import Platform
import QEMUFrontEnd
import VMM

func fail(_ message: String) -> Never {
    var text = "vmm-qemu: " + message + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}

let commandLine: QEMUCommandLine
do {
    commandLine = try QEMUCommandLine(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail("\(error)")
}

switch commandLine.action {
case .help:
    print(QEMUCommandLine.help)
    exit(0)
case .version:
    print(QEMUCommandLine.help.prefix { $0 != "\n" })
    exit(0)
case .listDevices:
    print(QEMUCommandLine.deviceList)
    exit(0)
case .run:
    break
}

let debug = getenv("VMM_QEMU_DEBUG") != nil
// What KVM can leave to the guest, asked only when -overcommit cpu-pm=on wants it.
let ownable = commandLine.cpuPM ? (try? KVMSystem()).map { KVMVirtualMachine.GuestOwnedExits(rawValue: UInt32(truncatingIfNeeded: $0.check(.disableExits))) } : nil
let configuration = commandLine.configuration(log: debug ? MachineConfiguration.standardError : nil, guestOwnableExits: ownable ?? [])
do {
    try configuration.validate()
} catch {
    fail("\(error)")
}
guard let kernelPath = commandLine.kernel else { fail("no -kernel given (this front end boots kernels only)") }
let kernel: [UInt8]
do {
    kernel = try HostFile.read(kernelPath, as: "kernel")
} catch {
    // kvm-unit-tests' runner looks for "could not load kernel '<path>'" to tell a missing
    // kernel from an option the front end refused.
    fail("could not load kernel '\(kernelPath)': \(error)")
}
let modules: [BootModule]
do {
    modules = try commandLine.initrds.map { BootModule(name: $0, bytes: try HostFile.read($0, as: "initrd")) }
} catch {
    fail("could not load initrd: \(error)")
}

let outcome: RunOutcome
do {
    let chosen = try BootProtocols.choose(for: kernel, name: kernelPath)
    guard chosen.name != "elf64" else {
        fail("-kernel \(kernelPath): neither a Multiboot nor a PVH kernel (boot this project's ELF64 guests with `vmm run`)")
    }
    let machine = try Machine(configuration)
    try machine.load(kernel: kernel, name: kernelPath, protocolName: chosen.name, modules: modules)
    outcome = machine.run(timeout: 7 * 86400)
} catch {
    fail("\(error)")
}
switch outcome {
case .guestExit, .poweredOff: break
default:
    // A VMM-side end the guest did not ask for: say why (a pass is never reported here).
    var text = "vmm-qemu: " + outcome.description + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
exit(QEMUCommandLine.exitStatus(outcome))
