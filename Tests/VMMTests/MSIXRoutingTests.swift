import Devices
import Foundation
import Interrupts
import MSIXReplay
import PCI
import Testing
import TestSupport
import MachineDevices
import VMM

/// The MSI-X test device's routing on a real KVM VM, driven through the machine's buses as a
/// guest driver would (no guest needed): route commits, irqfds and masks stay in step.
@Suite(.enabled(if: kvmAvailable)) struct MSIXRoutingTests {
    struct Rig {
        let machine: Machine
        let device: MSIXTestDevice
        let driver: MSIXTestDeviceDriver
        var table: UInt64 { driver.table }

        /// `routeCommits` is immediate by default: most tests here check what one guest access
        /// commits and attaches.
        init(vectors: Int, routeCommits: RouteCommitPolicy = .immediate) throws {
            var configuration = quietConfiguration()
            configuration.msixVectors = vectors
            configuration.routeCommits = routeCommits
            machine = try Machine(configuration)
            device = machine.testDevices[0]
            driver = try MSIXTestDeviceDriver(machine: machine)
        }

        func messageControl(enable: Bool, maskAll: Bool) { driver.messageControl(enable: enable, maskAll: maskAll) }
        func program(_ vector: Int, data: UInt32, masked: Bool) { driver.program(vector, data: data, masked: masked) }
        func mask(_ vector: Int, _ masked: Bool) { driver.mask(vector, masked) }
        func register(_ offset: UInt64) -> UInt64 { driver.register(offset) }
        func write(_ offset: UInt64, _ value: UInt64) { driver.write(offset, value) }
    }

    @Test func clearingMaskAllWith2048UnmaskedVectorsCostsOneRoutingCommit() throws {
        let rig = try Rig(vectors: 2048)
        rig.messageControl(enable: true, maskAll: true)
        for v in 0..<2048 { rig.program(v, data: 0x30 + UInt32(v % 200), masked: false) }
        #expect(rig.device.attachedIRQFDs == 0, "MaskAll masks the whole function")
        let before = rig.machine.routes.commitCount
        rig.messageControl(enable: true, maskAll: false)
        #expect(rig.machine.routes.commitCount == before + 1)
        #expect(rig.machine.routes.msiRoutes.count == 2048)
        #expect(rig.device.attachedIRQFDs == 2048)
        rig.messageControl(enable: true, maskAll: true)
        #expect(rig.machine.routes.commitCount == before + 2)
        #expect(rig.machine.routes.msiRoutes.isEmpty)
        #expect(rig.device.attachedIRQFDs == 0)
    }

    /// The device's fallback when KVM refuses an irqfd after committing the route: the backend's
    /// event still reaches the guest, by KVM_SIGNAL_MSI, and is not stranded in the eventfd.
    @Test func aBackendRaiseOnAVectorWhoseIrqfdWasRefusedIsSignaled() throws {
        let rig = try Rig(vectors: 4)
        typealias R = MSIXTestDeviceRegister
        rig.messageControl(enable: true, maskAll: false)
        rig.machine.vm.faults.failNext(.irqfd, errno: 9)
        rig.program(1, data: 0x41, masked: false)
        #expect(rig.device.attachedIRQFDs == 0, "the attach was refused")
        #expect(rig.machine.routes.msiRoutes.count == 1, "the route was committed")
        rig.write(R.resetCounts, 1)
        rig.write(R.raiseBackend, 1)
        #expect(rig.register(R.countSignaled) == 1, "sent with KVM_SIGNAL_MSI instead")
        #expect(rig.register(R.countBackend) == 1)
        rig.mask(1, true)
        rig.mask(1, false)
        #expect(rig.device.attachedIRQFDs == 1, "the next unmask attaches it")
        rig.write(R.raiseBackend, 1)
        #expect(rig.register(R.countSignaled) == 1, "now through the irqfd")
    }

    /// A backend event on a vector not in use is dropped, as a device raise is, and costs no
    /// eventfd; one sent by KVM_SIGNAL_MSI for want of an irqfd is counted once among the
    /// interrupts raised, not as a signal and a backend event both.
    @Test func backendRaisesOnUnusedVectorsAreDroppedAndFallbacksCountedOnce() throws {
        typealias R = MSIXTestDeviceRegister
        let rig = try Rig(vectors: 4)
        let msix = rig.device.msix
        rig.messageControl(enable: true, maskAll: false)
        msix.unuse(vector: 2)
        let descriptors = msix.eventfdCount
        #expect(msix.raiseBackend(vector: 2) == .dropped)
        #expect(msix.eventfdCount == descriptors, "no eventfd for an unused vector")
        #expect(msix.raiseBackend(vector: 9) == .dropped, "out of range")
        #expect(msix.raiseBackend(vector: 1, count: 0) == .dropped)

        rig.machine.vm.faults.failNext(.irqfd, errno: 9)
        rig.program(1, data: 0x41, masked: false)
        #expect(rig.device.attachedIRQFDs == 0, "the attach was refused")
        let before = rig.device.interruptsRaised
        rig.write(R.raiseBackend, 1)
        #expect(rig.register(R.countSignaled) == 1, "sent with KVM_SIGNAL_MSI")
        #expect(rig.device.interruptsRaised == before + 1, "one interrupt, counted once")
    }

    /// Coalesced route commits seen through the test device: unmasking one vector per guest write
    /// commits nothing at first, the vectors are live meanwhile (a backend event goes out by
    /// KVM_SIGNAL_MSI, once), and after the batch's commit their events go through the irqfds.
    @Test func coalescedUnmasksStayLiveUntilTheirBatchIsCommitted() throws {
        typealias R = MSIXTestDeviceRegister
        let rig = try Rig(vectors: 64, routeCommits: RouteCommitPolicy(idle: 1, maxPending: 10_000))
        rig.messageControl(enable: true, maskAll: false)
        let before = rig.machine.routes.commitCount
        for v in 0..<64 { rig.program(v, data: 0x30 + UInt32(v), masked: false) }
        #expect(rig.machine.routes.commitCount == before, "64 unmasks, no commit yet")
        #expect(rig.device.attachedIRQFDs == 0)
        rig.write(R.resetCounts, 1)
        rig.write(R.raiseBackend, 5)
        #expect(rig.register(R.countSignaled) == 1, "live before its commit: sent by KVM_SIGNAL_MSI")
        try rig.machine.routes.commit()
        #expect(rig.machine.routes.commitCount == before + 1, "one commit for the 64 writes")
        #expect(rig.device.attachedIRQFDs == 64)
        rig.write(R.raiseBackend, 5)
        #expect(rig.register(R.countSignaled) == 1, "now through its irqfd")
        #expect(rig.register(R.countBackend) == 2)
    }

    /// README "Where the replay's order differs from KVM's": one MaskAll clear that delivers a
    /// pending bit and releases a held backend signal of the same vector.
    @Test func aMaskAllClearSignalsPendingBitsBeforeAttachingIrqfdsWhileTheReplayInterleaves() throws {
        typealias R = MSIXTestDeviceRegister
        let rig = try Rig(vectors: 4)
        rig.messageControl(enable: true, maskAll: true)
        rig.program(1, data: 0x41, masked: false)
        rig.write(R.resetCounts, 1)
        rig.write(R.raise, 1)         // masked by the function: pends
        rig.write(R.raiseBackend, 1)  // masked: held in the eventfd
        #expect(rig.register(R.countPended) == 1)
        rig.machine.vm.faults.startRecording()
        rig.messageControl(enable: true, maskAll: false)
        #expect(rig.machine.vm.faults.recorded == [.signalMSI, .setGSIRouting, .irqfd], "pending bit sent, then commit, then attach")
        #expect(rig.register(R.countSignaled) == 1)
        #expect(rig.device.attachedIRQFDs == 1)

        var replayer = Replayer()
        var events: [String] = []
        let trace = [
            #"{"op":"init","vectors":4}"#, #"{"op":"notifiers","poll":false}"#,
            #"{"op":"bar_write","offset":16,"size":4,"value":4276092928}"#, #"{"op":"bar_write","offset":24,"size":4,"value":65}"#,
            #"{"op":"cap_write","offset":2,"size":2,"value":49152}"#, #"{"op":"bar_write","offset":28,"size":4,"value":0}"#,
            #"{"op":"notify","vector":1}"#, #"{"op":"backend","vector":1}"#,
            #"{"op":"cap_write","offset":2,"size":2,"value":32768}"#,
        ]
        for (number, line) in trace.enumerated() { replayer.feed(line: line, number: number + 1) { events.append($0) } }
        #expect(events == [
            #"{"event":"use","vector":1,"address":4276092928,"data":65}"#,
            #"{"event":"msi","vector":1,"address":4276092928,"data":65,"via":"irqfd"}"#,
            #"{"event":"msi","vector":1,"address":4276092928,"data":65,"via":"signal"}"#,
        ], "the replay: per vector, held signal before pending bit")
    }

    /// Doorbell ioeventfds are registered on a doorbell's first ring (served by its exit), so a
    /// BAR move re-registers only the doorbells in use: each KVM_IOEVENTFD costs a kernel
    /// synchronisation, and re-registering all 256 made one guest BAR write cost ~120 ms.
    @Test func doorbellsAreRegisteredOnFirstRingAndFollowTheirBAR() throws {
        typealias R = MSIXTestDeviceRegister
        let rig = try Rig(vectors: 2048)
        let msix = rig.device.msix
        #expect(msix.registeredDoorbells == 0, "none up front")
        rig.write(R.doorbells + 4 * 3, 1)
        rig.write(R.doorbells + 4 * 300, 1)  // past the ioeventfd limit: always an exit
        #expect(msix.registeredDoorbells == 1)
        #expect(rig.register(R.countBackend) == 2, "both rings served")
        rig.machine.vm.faults.startRecording()
        rig.driver.function.configWrite(offset: 0x10, size: 4, value: 0xD000_0000)
        #expect(rig.driver.function.mappedAddress(ofBar: 0) == 0xD000_0000)
        #expect(rig.machine.vm.faults.recorded == [.ioeventfd, .ioeventfd], "one removal and one addition, not 256 of each")
        #expect(msix.registeredDoorbells == 1)
    }

    /// The doorbell thread starts with the first doorbell the guest rings (a guest that rings
    /// none costs no thread), serves it and later rings, and stays stopped once stopped.
    @Test func theDoorbellThreadStartsWithTheFirstRing() throws {
        typealias R = MSIXTestDeviceRegister
        let rig = try Rig(vectors: 16)
        let msix = rig.device.msix
        #expect(!msix.doorbellThreadRunning, "no thread before a ring")
        rig.write(R.doorbells + 4 * 2, 1)
        #expect(msix.doorbellThreadRunning)
        #expect(rig.register(R.countBackend) == 1)
        msix.stop()
        #expect(!msix.doorbellThreadRunning)
        rig.write(R.doorbells + 4 * 3, 1)
        #expect(!msix.doorbellThreadRunning, "a ring after stop() starts no thread")
    }

    /// Descriptors exist only for vectors and doorbells in use: an idle 2048-vector device holds
    /// none for them (it used to open 2,305 up front).
    @Test func anIdle2048VectorDeviceHoldsNoVectorOrDoorbellDescriptors() throws {
        typealias R = MSIXTestDeviceRegister
        let rig = try Rig(vectors: 2048)
        #expect(rig.device.msix.eventfdCount == 0)
        rig.messageControl(enable: true, maskAll: false)
        rig.program(7, data: 0x47, masked: false)
        #expect(rig.device.msix.eventfdCount == 1, "the unmasked vector's irqfd needs its eventfd")
        rig.write(R.doorbells + 4 * 5, 1)
        #expect(rig.device.msix.eventfdCount == 3, "a rung doorbell adds its own and its vector's")
        rig.mask(7, true)
        #expect(rig.device.msix.eventfdCount == 2, "the released vector's eventfd is closed")
        #expect(rig.driver.pba(size: 4) & (1 << 5) != 0, "the ring on masked vector 5 is held, then pended by the poll")
        #expect(rig.device.msix.eventfdCount == 1, "the poll emptied vector 5's eventfd and closed it; the doorbell's stays")
        rig.mask(5, false)
        #expect(rig.register(R.countSignaled) == 1, "the pending bit went out at the unmask")
    }

    /// Every vector of a 2048-vector device unmasked, then masked again: each takes an eventfd
    /// while in use and gives it back, so the device ends holding none (KVM_IRQFD attached and
    /// detached 2048 times each).
    @Test func vectorsGiveTheirEventfdsBackWhenReleased() throws {
        let rig = try Rig(vectors: 2048)
        rig.messageControl(enable: true, maskAll: true)
        for v in 0..<2048 { rig.program(v, data: 0x30 + UInt32(v % 200), masked: false) }
        rig.messageControl(enable: true, maskAll: false)
        #expect(rig.device.msix.eventfdCount == 2048)
        #expect(rig.device.attachedIRQFDs == 2048)
        rig.messageControl(enable: true, maskAll: true)
        #expect(rig.device.msix.eventfdCount == 0)
        #expect(rig.device.attachedIRQFDs == 0)
        rig.messageControl(enable: true, maskAll: false)
        #expect(rig.device.msix.eventfdCount == 2048, "and takes them again at the next unmask")
    }

    /// Four 2048-vector devices run a guest under a 256-descriptor limit.
    @Test func fourLargeDevicesFitAFewHundredDescriptors() {
        _ = guestDirectory
        let command = "ulimit -n 256; exec '\(vmmExecutable)' run '\(guest("msix-doorbell"))' --test-devices 4 --msix-vectors 2048 --quiet"
        let result = runProcess("/bin/sh", ["-c", command])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("EMFILE"), "\(result.output)")
    }

    /// A machine grows the process's descriptor table for its vectors while it is built, before
    /// its threads exist (growing it later, with threads, waits for an RCU grace period: 20 ms
    /// for one guest write here). Read from a running vmm's /proc status (FDSize: the table's
    /// slots), for 16 and for 2048 vectors.
    @Test func theDescriptorTableIsGrownForTheVectorsBeforeTheRun() {
        _ = guestDirectory
        func fdSize(vectors: Int) -> Int? {
            let command = "'\(vmmExecutable)' run '\(guest("spin"))' --msix-vectors \(vectors) --timeout 3 --quiet & "
                + "sleep 1; grep '^FDSize:' /proc/$!/status; kill $! 2>/dev/null; wait"
            let result = runProcess("/bin/sh", ["-c", command])
            return result.output.split(separator: "\n").first { $0.hasPrefix("FDSize:") }
                .flatMap { Int($0.dropFirst("FDSize:".count).trimmingCharacters(in: .whitespaces)) }
        }
        let small = fdSize(vectors: 16), large = fdSize(vectors: 2048)
        #expect(small.map { $0 >= 256 + 16 } == true, "FDSize \(String(describing: small)) for 16 vectors")
        #expect(large.map { $0 >= 256 + 2048 } == true, "FDSize \(String(describing: large)) for 2048 vectors")
    }

    /// The whole conformance suite on machines of four 2048-vector devices, under the common
    /// 1,024-descriptor soft limit, one guest at a time: msix-deliver unmasks all 2048 vectors of
    /// a device, and a vector in use still takes an eventfd for its irqfd (those past the limit
    /// fall back to KVM_SIGNAL_MSI), which would starve a second machine running beside it.
    @Test func theSuitePassesWithFourLargeDevicesUnderTheUsualDescriptorLimit() {
        _ = guestDirectory
        let command = "ulimit -n 1024; exec '\(vmmExecutable)' test --jobs 1 --test-devices 4 --msix-vectors 2048 --guest-dir '\(guestDirectory)'"
        let result = runProcess("/bin/sh", ["-c", command])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(" passed, 0 failed"), "\(result.output)")
    }

    @Test func maskedVectorsNeverAppearInTheCommittedTable() throws {
        let rig = try Rig(vectors: 64)
        rig.messageControl(enable: true, maskAll: false)
        for v in 0..<64 { rig.program(v, data: 0x40 + UInt32(v), masked: v % 3 == 0) }
        let routed = Set(rig.machine.routes.msiRoutes.values.map(\.data))
        let expected = Set((0..<64).filter { $0 % 3 != 0 }.map { 0x40 + UInt32($0) })
        #expect(routed == expected)
        #expect(rig.device.attachedIRQFDs == expected.count)
    }

    @Test func irqfdsFollowTheMaskBits() throws {
        let rig = try Rig(vectors: 8)
        rig.messageControl(enable: true, maskAll: false)
        rig.program(2, data: 0x42, masked: true)
        #expect(rig.device.attachedIRQFDs == 0)
        rig.mask(2, false)
        #expect(rig.device.attachedIRQFDs == 1)
        rig.mask(2, true)
        #expect(rig.device.attachedIRQFDs == 0)
        rig.mask(2, false)
        rig.messageControl(enable: false, maskAll: false)
        #expect(rig.device.attachedIRQFDs == 0, "disabling MSI-X releases the vectors in use")
        #expect(rig.machine.routes.msiRoutes.isEmpty)
    }

    @Test func changingTheMessageOfAnUnmaskedVectorRewritesItsRoute() throws {
        let rig = try Rig(vectors: 4)
        rig.messageControl(enable: true, maskAll: false)
        rig.program(1, data: 0x41, masked: false)
        #expect(rig.machine.routes.msiRoutes.values.map(\.data) == [0x41])
        rig.machine.mmioBus.write(rig.table + 16 + 8, size: 4, value: 0x55)
        #expect(rig.machine.routes.msiRoutes.values.map(\.data) == [0x55])
        #expect(rig.device.attachedIRQFDs == 1)
    }

    @Test func registersCountRaisesByPath() throws {
        let rig = try Rig(vectors: 4)
        typealias R = MSIXTestDeviceRegister
        #expect(rig.register(R.magic) == 0x5849_534D)
        #expect(rig.register(R.vectors) == 4)
        #expect(rig.register(R.features) == 3)
        rig.messageControl(enable: true, maskAll: false)
        rig.program(0, data: 0x40, masked: false)
        rig.program(1, data: 0x41, masked: true)
        rig.write(R.raise, 0)  // unmasked: KVM_SIGNAL_MSI
        rig.write(R.raise, 1)  // masked: pending
        rig.write(R.raise, 9)  // out of range: dropped
        rig.write(R.unuse, 0)
        rig.write(R.raise, 0)  // unused: dropped
        rig.write(R.raiseBackend, 1)
        #expect(rig.register(R.countSignaled) == 1)
        #expect(rig.register(R.countPended) == 1)
        #expect(rig.register(R.countDropped) == 2)
        #expect(rig.register(R.countBackend) == 1)
        // The PBA shows vector 1 pending; unmasking delivers it with KVM_SIGNAL_MSI.
        #expect(rig.driver.pba() & 0b10 == 0b10)
        rig.mask(1, false)
        #expect(rig.register(R.countSignaled) == 2)
        #expect(rig.driver.pba() & 0b10 == 0)
        rig.write(R.resetCounts, 1)
        #expect(rig.register(R.countSignaled) == 0 && rig.register(R.countDropped) == 0)
    }

    @Test func aBackendSignalHeldWhileMaskedBecomesPendingOnAPBARead() throws {
        let rig = try Rig(vectors: 4)
        typealias R = MSIXTestDeviceRegister
        rig.messageControl(enable: true, maskAll: false)
        rig.program(3, data: 0x43, masked: true)
        rig.write(R.raiseBackend, 3)
        #expect(rig.driver.pba(size: 4) == 0b1000, "the poll notifier moved the held signal into the PBA")
        rig.mask(3, false)
        #expect(rig.register(R.countSignaled) == 1, "unmask delivered the pending bit")
        #expect(rig.driver.pba(size: 4) == 0)
    }

    @Test func whenRoutesRunOutVectorsStayOnSignalMSIAndBackendRaisesStillArrive() throws {
        // Two devices of 2048 vectors want more MSI routes than KVM's table holds (4096 − 40).
        var configuration = quietConfiguration()
        configuration.msixVectors = 2048
        configuration.testDevices = 2
        let machine = try Machine(configuration)
        let drivers = try [1, 2].map { try MSIXTestDeviceDriver(machine: machine, slot: $0) }
        for driver in drivers {
            driver.messageControl(enable: true, maskAll: true)
            for v in 0..<2048 { driver.program(v, data: 0x30 + UInt32(v % 200), masked: false) }
            driver.messageControl(enable: true, maskAll: false)
        }
        let second = machine.testDevices[1]
        let routed = machine.routes.capacity
        #expect(machine.testDevices[0].attachedIRQFDs + second.attachedIRQFDs == routed)
        #expect(second.msixCounters.useNotifierFailures == UInt64(4096 - routed))
        typealias R = MSIXTestDeviceRegister
        let stranded = drivers[1]
        stranded.write(R.resetCounts, 1)
        stranded.write(R.raise, 2047)         // KVM_SIGNAL_MSI, as for any unmasked vector
        stranded.write(R.raiseBackend, 2047)  // no irqfd: delivered with KVM_SIGNAL_MSI instead
        #expect(stranded.register(R.countSignaled) == 2)
        #expect(stranded.register(R.countBackend) == 1)
        stranded.write(R.raiseBackend, 0)     // routed: goes through its irqfd
        #expect(stranded.register(R.countSignaled) == 2)
    }

    @Test(arguments: testSeeds([1, 2, 3]))
    func hostileAccessesToEveryBARAreSurvivedAndCounted(seed: UInt64) throws {
        let rig = try Rig(vectors: 16)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<20_000 {
            let bar = Bool.random(using: &rng) ? rig.table : rig.driver.registers
            let offset = UInt64.random(in: 0..<0x4100, using: &rng)
            let size = [1, 2, 3, 4, 8].randomElement(using: &rng)!
            if Bool.random(using: &rng) {
                rig.machine.mmioBus.write(bar + offset, size: size, value: UInt64.random(in: 0...UInt64.max, using: &rng))
            } else {
                _ = rig.machine.mmioBus.read(bar + offset, size: size)
            }
        }
        #expect(rig.device.msixCounters.invalidAccesses > 0, "\(replayHint(seed))")
        #expect(rig.register(MSIXTestDeviceRegister.magic) == 0x5849_534D, "\(replayHint(seed))")
    }
}
