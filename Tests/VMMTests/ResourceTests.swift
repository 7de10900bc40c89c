import KVM
import PCI
import Testing
import TestSupport
import MachineDevices
import VMM

/// A machine gives back everything it opened when it goes away: a runner that boots hundreds of
/// guests in one process must not run out of file descriptors. Every fd is owned by an object
/// that closes it in deinit (`OwnedFileDescriptor`), so the check is that those owners are gone.
/// (Counting /proc/self/fd would race with other suites running machines in parallel.)
@Suite(.enabled(if: kvmAvailable)) struct ResourceTests {
    final class Watch {
        weak var machine: Machine?
        weak var system: KVMSystem?
        weak var vm: KVMVirtualMachine?
        weak var root: PCIRoot?
        var devices: [Weak] = []
        var vcpus: [WeakVCPU] = []
        struct Weak { weak var device: MSIXTestDevice? }
        struct WeakVCPU { weak var vcpu: KVMVCPU? }

        var leftovers: [String] {
            var names: [String] = []
            if machine != nil { names.append("Machine") }
            if system != nil { names.append("KVMSystem (/dev/kvm fd)") }
            if vm != nil { names.append("KVMVirtualMachine (VM fd)") }
            if root != nil { names.append("PCIRoot") }
            if devices.contains(where: { $0.device != nil }) { names.append("MSIXTestDevice (eventfds)") }
            if vcpus.contains(where: { $0.vcpu != nil }) { names.append("KVMVCPU (vCPU fd)") }
            return names
        }
    }

    func watch(_ machine: Machine) -> Watch {
        let w = Watch()
        w.machine = machine
        w.system = machine.kvm
        w.vm = machine.vm
        w.root = machine.pci
        w.devices = machine.testDevices.map { Watch.Weak(device: $0) }
        w.vcpus = machine.vcpus.map { Watch.WeakVCPU(vcpu: $0) }
        return w
    }

    @Test func aMachineThatRanReleasesEverythingItOpened() throws {
        var configuration = quietConfiguration(vcpus: 2)
        configuration.testDevices = 2
        let w: Watch
        do {
            let (machine, outcome) = try Machine.runGuest(at: guest("msix-deliver"), configuration: configuration, timeout: 20)
            #expect(outcome == .guestExit(value: 0))
            w = watch(machine)
        }
        #expect(w.leftovers.isEmpty, "still alive: \(w.leftovers)")
    }

    @Test func aMachineThatNeverRanReleasesEverythingItOpened() throws {
        var configuration = quietConfiguration()
        configuration.testDevices = 3
        let w: Watch
        do { w = watch(try Machine(configuration)) }
        #expect(w.leftovers.isEmpty, "still alive: \(w.leftovers)")
    }
}
