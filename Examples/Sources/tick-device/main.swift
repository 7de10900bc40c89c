// tick-device: a new MSI-X PCI device on a vmm machine, as a library user writes one. Its guest
// (Guests/example-tick, built with the other guests) programs the MSI-X table, raises each
// vector through the RAISE register and checks that it arrives, and that a masked one waits.
//
//   swift run tick-device [GUEST]     (default: ../.build/guests/example-tick.elf)
import Foundation
import KVMMSIX
import PCI
import Synchronization
import Threads
import VMM

/// 5357:0e01. BAR0 (4 KiB): RAISE at 0x0 (write a vector number), RAISES at 0x4 (how many).
/// BAR1: the MSI-X table and PBA, four vectors; everything MSI-X is the MSIXFunction's.
final class TickDevice: PCIDeviceModel, MachineComponent {
    let raises = Atomic<UInt32>(0)
    let msix = Locked<MSIXFunction?>(nil)

    func attach(to machine: MachineAssembly) throws {
        let msix = try MSIXFunction(name: "tick", vectors: 4, placement: .exclusiveBAR(1), capabilityOffset: 0x40,
                                    vm: machine.vm, routes: machine.routes, initialUseCount: 1, log: machine.log)
        self.msix.withLock { $0 = msix }
        let function = PCIFunction(name: "tick", identity: .init(vendorID: 0x5357, deviceID: 0x0E01, classCode: 0xFF_0000), model: self)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: 0x1000))
        try msix.install(on: function)
        guard let slot = machine.pci.nextFreeDevice() else { throw VMMError.layout("PCI bus 0 is full") }
        try machine.pci.attach(function, at: PCIAddress(device: slot))
    }

    func stop() { msix.withLock { $0 }?.stop() }

    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        let msix = self.msix.withLock { $0 }
        if let value = msix?.barRead(bar, offset: offset, size: size) { return value }
        return offset == 0x4 ? UInt64(raises.load(ordering: .relaxed)) : 0
    }

    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        guard let msix = self.msix.withLock({ $0 }), !msix.barWrite(bar, offset: offset, size: size, value: value) else { return }
        if offset == 0x0 {
            raises.add(1, ordering: .relaxed)
            msix.raise(vector: Int(truncatingIfNeeded: value & 0xFFFF))
        }
    }

    func barMoved(_ bar: Int, to address: UInt64?) { msix.withLock { $0 }?.barMoved(bar, to: address) }
    func commandChanged(_ command: UInt16) { msix.withLock { $0 }?.commandChanged(command) }
}

let guest = CommandLine.arguments.dropFirst().first ?? "../.build/guests/example-tick.elf"
var configuration = MachineConfiguration()
configuration.testDevices = 0
let device = TickDevice()
configuration.devices = [device]
do {
    let (machine, outcome) = try Machine.runGuest(at: guest, configuration: configuration, timeout: 30)
    print("tick-device: \(outcome); the device saw \(device.raises.load(ordering: .relaxed)) raises, \(machine.statistics.line)")
    exit(outcome == .guestExit(value: 0) ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("tick-device: \(error)\n".utf8))
    exit(2)
}
