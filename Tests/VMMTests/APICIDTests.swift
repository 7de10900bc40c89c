import KVM
import Testing
import TestSupport
@testable import VMM

/// vCPUs with APIC IDs of their own (`MachineLayout.apicIDs`, `--apic-ids`): KVM IDs, 32-bit IDs
/// when one needs x2APIC, the bootstrap processor, the tables that list them, and refusals.
@Suite(.enabled(if: kvmAvailable)) struct APICIDTests {
    func configuration(_ ids: [UInt32]) -> MachineConfiguration {
        var configuration = quietConfiguration(vcpus: ids.count)
        configuration.layout.apicIDs = ids
        return configuration
    }

    @Test func anIDAbove255GivesTheVMThirtyTwoBitIDs() throws {
        let machine = try Machine(configuration([0, 300]))
        #expect(machine.vcpus.map(\.id) == [0, 300], "KVM's vCPU ID is the APIC ID")
        #expect(machine.vm.x2apicAPI.contains(.use32BitIDs))
        #expect(machine.vm.uses32BitAPICIDs, "so the routers move extended destination IDs")
        let plain = try Machine(quietConfiguration(vcpus: 2))
        #expect(plain.vcpus.map(\.id) == [0, 1])
        #expect(plain.vm.x2apicAPI.isEmpty, "machines without such IDs keep KVM's 8-bit format")
    }

    /// A bootstrap processor whose ID is not 0 (KVM_SET_BOOT_CPU_ID): the guest runs on it.
    @Test func theFirstVCPUBootsWhateverItsID() throws {
        let (_, outcome) = try Machine.runGuest(at: guest("hello"), configuration: configuration([7]), timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(outcome)")
        let (_, smp) = try Machine.runGuest(at: guest("smp"), configuration: configuration([3, 1]), timeout: 20)
        #expect(smp != .guestExit(value: 0), "smp checks APIC ID = index, so it must notice \(smp)")
    }

    /// With 32-bit IDs KVM refuses a message whose upper address word sets bits 7:0, and one such
    /// route would make it refuse the whole table. A guest writes what it likes there: the
    /// router clears them, so every vector still gets its irqfd.
    @Test func aGuestsReservedUpperAddressBitsCannotBreakTheRoutingTable() throws {
        var c = configuration([0, 300])
        c.routeCommits = .immediate
        let machine = try Machine(c)
        let driver = try MSIXTestDeviceDriver(machine: machine)
        driver.messageControl(enable: true, maskAll: false)
        driver.program(0, data: 0x40, masked: false, apicID: 0xFF << 20)  // upper word 0xFF
        driver.program(1, data: 0x41, masked: false)
        #expect(machine.testDevices[0].attachedIRQFDs == 2, "both routes committed and attached")
        #expect(machine.routes.commitCount > 0)
    }

    @Test func thePCMachinesMADTListsTheIDs() {
        var layout = configuration([0, 300]).layout
        layout.vcpuCount = 2
        let bytes = PCMachine.acpiTables(for: layout, options: PCOptions()).bytes
        let x2apicEntry: [UInt8] = [9, 16, 0, 0, 0x2C, 0x01, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]  // ID 300, enabled, UID 1
        #expect(bytes.indices.contains { bytes[$0...].starts(with: x2apicEntry) }, "a Processor Local x2APIC entry for 300")
    }

    @Test func badIDsAreRefusedByName() {
        #expect(throws: VMMError.layout("3 APIC IDs for 2 vCPUs: give one per vCPU")) {
            var c = configuration([0, 1, 2])
            c.layout.vcpuCount = 2
            _ = try Machine(c)
        }
        #expect(throws: VMMError.layout("APIC ID 5 is given to two vCPUs")) { _ = try Machine(configuration([5, 5])) }
        #expect(throws: VMMError.self) { _ = try Machine(configuration([0, .max])) }
    }
}
