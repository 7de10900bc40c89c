#if canImport(Glibc)
import Glibc
#endif
import Devices
import KVM
import TextFormat
import Logging
import Synchronization
import Testing
import TestSupport
import VMM

/// The open machine's assembly: the caller's devices, the standard devices it may leave out,
/// memory beyond RAM (ROM, more RAM, dirty logging) and an exit hook that handles accesses.
/// The `scratch` guest reads 0x2A from MMIO 0xF1000000 on every vCPU, or fails.
@Suite(.enabled(if: kvmAvailable)) struct MachineAssemblyTests {
    static let scratchAddress: UInt64 = 0xF100_0000

    final class Register: BusDevice {
        let reads = Atomic<Int>(0)
        func read(offset: UInt64, size: Int) -> UInt64 {
            reads.add(1, ordering: .relaxed)
            return 0x2A
        }
        func write(offset: UInt64, size: Int, value: UInt64) {}
    }

    /// A component that puts a register at the scratch address and records its stop.
    final class ScratchComponent: MachineComponent {
        let register = Register()
        let stopped = Atomic<Bool>(false)
        func attach(to machine: MachineAssembly) throws {
            try machine.mmioBus.register(register, name: "scratch", base: MachineAssemblyTests.scratchAddress, size: 4)
        }
        func stop() { stopped.store(true, ordering: .relaxed) }
    }

    @Test func theCallersComponentIsAttachedReachedByTheGuestAndStopped() throws {
        var configuration = quietConfiguration(vcpus: 2)
        let component = ScratchComponent()
        configuration.devices = [component]
        let (machine, outcome) = try Machine.runGuest(at: guest("scratch"), configuration: configuration, timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        let reads = component.register.reads.load(ordering: .relaxed), stopped = component.stopped.load(ordering: .relaxed)
        #expect(reads == 2, "one read per vCPU")
        #expect(stopped, "stopped when the run ended")
    }

    /// Left out, a standard device's place is free for the caller's own; kept, it is taken.
    @Test func aStandardDeviceLeftOutFreesItsPlace() throws {
        struct ExitPortClaimer: MachineComponent {
            func attach(to machine: MachineAssembly) throws {
                try machine.portBus.register(Register(), name: "my exit port", base: UInt64(machine.layout.exitPort), size: 1)
            }
        }
        var configuration = quietConfiguration()
        configuration.devices = [ExitPortClaimer()]
        #expect(throws: (any Error).self, "the exit port is the machine's") { _ = try Machine(configuration) }
        configuration.standardDevices = [.console, .probe]
        let machine = try Machine(configuration)
        #expect(machine.portBus.read(UInt64(machine.layout.exitPort), size: 1) == 0x2A, "the caller's device answers there")
        configuration.standardDevices = []
        let bare = try Machine(configuration)
        #expect(bare.portBus.read(UInt64(bare.layout.consolePort), size: 1) == 0xFF, "no console: unclaimed")
    }

    /// An exit hook that answers the scratch register itself: the guest passes with nothing
    /// registered there, and the hook sees only the accesses it was offered.
    @Test func anExitHookHandlesAccessesBeforeTheBuses() throws {
        var configuration = quietConfiguration(vcpus: 2)
        let handled = Atomic<Int>(0), observed = Atomic<Int>(0)
        configuration.exitHook = { event in
            guard event.kind == .mmioRead, event.address == MachineAssemblyTests.scratchAddress else { return false }
            event.value = 0x2A
            handled.add(1, ordering: .relaxed)
            return true
        }
        configuration.exitObserver = { event in
            if event.address == MachineAssemblyTests.scratchAddress, event.value == 0x2A { observed.add(1, ordering: .relaxed) }
        }
        let (machine, outcome) = try Machine.runGuest(at: guest("scratch"), configuration: configuration, timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        let handledCount = handled.load(ordering: .relaxed), observedCount = observed.load(ordering: .relaxed)
        #expect(handledCount == 2)
        #expect(observedCount == 2, "the observer sees the value the hook gave")
    }

    /// A ROM holding 0x2A at the scratch address: the guest reads it from memory, with no exit,
    /// and a guest write cannot change it.
    @Test func romIsReadWithoutAnExit() throws {
        var configuration = quietConfiguration()
        configuration.extraMemory = [MemoryRegion(name: "scratch ROM", base: Self.scratchAddress, size: 0x1000, kind: .rom(contents: [0x2A, 0, 0, 0]))]
        let exits = Atomic<Int>(0)
        configuration.exitObserver = { event in
            if event.address == MachineAssemblyTests.scratchAddress { exits.add(1, ordering: .relaxed) }
        }
        let (machine, outcome) = try Machine.runGuest(at: guest("scratch"), configuration: configuration, timeout: 20)
        #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        let exitCount = exits.load(ordering: .relaxed)
        #expect(exitCount == 0, "read from memory, not through an exit")
        #expect(machine.extraMemory.count == 1 && machine.extraMemory[0].slot == 1 && machine.extraMemory[0].readOnly)
        #expect(try machine.extraMemory[0].memory.load(UInt32.self, at: 0) == 0x2A)
    }

    /// Dirty logging of RAM: the pages the guest wrote (its stacks and data) are reported, none
    /// outside RAM and not the untouched top page; a second read, after the run, is empty.
    @Test func dirtyLoggingReportsThePagesTheGuestWrote() throws {
        var configuration = quietConfiguration()
        configuration.logDirtyRAM = true
        let (machine, outcome) = try Machine.runGuest(at: guest("hello"), configuration: configuration, timeout: 20)
        #expect(outcome == .guestExit(value: 0))
        let pages = try machine.ram.dirtyPages()
        let top = machine.layout.ramSize - 4096
        #expect(!pages.isEmpty && pages.allSatisfy { $0 % 4096 == 0 && $0 < machine.layout.ramSize })
        #expect(!pages.contains(top))
        #expect(try machine.ram.dirtyPages().isEmpty, "reading cleared the record; the guest has stopped")
        let plain = try Machine(quietConfiguration())
        #expect(throws: VMMError.self, "a slot without logging says so") { _ = try plain.ram.dirtyPages() }
    }

    /// A library user's swift-log Logger takes the machine's diagnostics.
    @Test func diagnosticsGoToTheUsersLogger() throws {
        final class Lines: Sendable { let list = Mutex<[String]>([]) }
        struct Capture: LogHandler {
            let lines: Lines
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                lines.list.withLock { $0.append("\(event.level): \(event.message)") }
            }
        }
        let lines = Lines()
        var configuration = quietConfiguration()
        configuration.log(to: Logger(label: "test") { _ in Capture(lines: lines) })
        let machine = try Machine(configuration)
        #expect(machine.portBus.read(0x1234, size: 1) == 0xFF)
        let seen = lines.list.withLock { $0 }
        #expect(seen.count == 1 && seen[0].hasPrefix("warning: ") && seen[0].contains("0x1234"), "\(seen)")
    }

    @Test func extraMemoryIsValidated() {
        func refused(_ region: MemoryRegion) -> Bool {
            var configuration = quietConfiguration()
            configuration.extraMemory = [region]
            do { try configuration.validate(); return false } catch { return true }
        }
        #expect(refused(MemoryRegion(name: "low", base: 0x10_0000, size: 0x1000)), "overlaps RAM")
        #expect(refused(MemoryRegion(name: "odd", base: 0x8000_0100, size: 0x1000)), "unaligned base")
        #expect(refused(MemoryRegion(name: "empty", base: 0x8000_0000, size: 0)))
        #expect(refused(MemoryRegion(name: "ioapic", base: 0xFEC0_0000, size: 0x1000)), "overlaps the IOAPIC")
        #expect(refused(MemoryRegion(name: "rom", base: 0x8000_0000, size: 0x1000, kind: .rom(contents: .init(repeating: 0, count: 0x1001)))))
        #expect(refused(MemoryRegion(name: "far", base: 1 << 46, size: 0x1000)))
        #expect(!refused(MemoryRegion(name: "high", base: 0x1_0000_0000, size: 0x10_0000)), "above 4 GiB is fine")
    }

    /// High RAM is a slot of its own at 4 GiB, in the device tree, and clear of extra regions.
    @Test func highRAMIsMappedAtFourGiB() throws {
        var configuration = quietConfiguration()
        configuration.layout.highRAMSize = 4 << 20
        configuration.extraMemory = [MemoryRegion(name: "clash", base: 0x1_0020_0000, size: 0x1000)]
        #expect(throws: VMMError.self) { try configuration.validate() }
        configuration.extraMemory = []
        configuration.layout.highRAMSize = 3 << 20
        #expect(throws: VMMError.memoryNotAligned(3 << 20)) { try configuration.validate() }
        configuration.layout.highRAMSize = 4 << 20
        let machine = try Machine(configuration)
        let high = try #require(machine.highRAM)
        #expect(high.guestBase == 1 << 32 && high.memory.size == 4 << 20 && high.slot == 1)
        #expect(String(decoding: try configuration.deviceTree(), as: UTF8.self).contains("memory@100000000"))
    }

    /// Exits left to the guest are taken when KVM can leave them, and refused by name when not.
    @Test func guestOwnedExitsNeedKVMsConsent() throws {
        let possible = KVMVirtualMachine.GuestOwnedExits(rawValue: UInt32(truncatingIfNeeded: try KVMSystem().check(.disableExits)))
        var configuration = quietConfiguration()
        let all: KVMVirtualMachine.GuestOwnedExits = [.hlt, .pause, .mwait, .cstate]
        configuration.guestOwnedExits = all
        if possible.isSuperset(of: all) {
            _ = try Machine(configuration)
        } else {
            do { _ = try Machine(configuration); Issue.record("built a machine KVM cannot give those exits") } catch {
                #expect("\(error)".contains("KVM_CAP_X86_DISABLE_EXITS allows \(hex(possible.rawValue))"), "\(error)")
            }
        }
        configuration.guestOwnedExits = possible.intersection(all)
        if !configuration.guestOwnedExits.isEmpty {
            let (machine, outcome) = try Machine.runGuest(at: guestDirectory + "/hello.elf", configuration: configuration, timeout: 20)
            #expect(outcome == .guestExit(value: 0), "\(machine.console.transcript)")
        }
    }
}
