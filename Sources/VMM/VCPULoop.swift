import CKVM
import Devices
import KVM

/// The exit loop of one vCPU: run, offer the exit to the hook, dispatch it to the port or MMIO
/// bus, repeat until the run completes. It allocates nothing per exit: exits and events are plain
/// values, the buses look up devices in place, and data moves through the `kvm_run` area.
struct VCPULoop: Sendable {
    let vcpu: KVMVCPU
    /// The vCPU's index in the machine (0 is the bootstrap processor); its KVM ID is its APIC ID.
    let index: Int
    let portBus: Bus
    let mmioBus: Bus
    let completion: Completion
    /// The machine's S3 state, if it can suspend; `resume` restarts this vCPU after a wake.
    let suspension: Suspension?
    let resume: @Sendable (KVMVCPU) throws -> Void
    /// Kicks every vCPU out of KVM_RUN (called by whoever finishes the run).
    let stopAll: @Sendable () -> Void
    /// Receives this vCPU's exit counts when its loop ends.
    let report: @Sendable (_ ioExits: Int, _ mmioExits: Int) -> Void
    /// Offered every port and MMIO access before the buses; returns true when it handled it.
    let hook: (@Sendable (inout ExitEvent) -> Bool)?
    /// Told of every port and MMIO access after it is dispatched, if set.
    let observer: (@Sendable (ExitEvent) -> Void)?
    /// Takes the EOI of a level-triggered vector of the VMM's IOAPIC (a split irqchip).
    let ioapicEOI: (@Sendable (UInt8) -> Void)?

    func run() {
        var ioExits = 0, mmioExits = 0
        defer { report(ioExits, mmioExits) }
        // The kick that ends a run is a signal: make sure this thread can receive it, whatever
        // mask it inherited from the thread that started the machine.
        let unblocked = ckvm_unblock_signal(ckvm_kick_signal())
        if unblocked < 0 {
            finish(.hostError("cannot unblock the vCPU kick signal: \(errnoName(-unblocked))"))
            return
        }
        while !completion.isFinished {
            // Suspending: park before entering the guest again (no guest instruction runs).
            if let suspension, suspension.isRequested {
                guard suspension.park(isBootstrap: index == 0, finished: { completion.isFinished }) else { return }
                vcpu.requestImmediateExit(false)
                do { try resume(vcpu) } catch {
                    finish(.hostError("resuming vCPU \(index) from S3: \(error)"))
                    return
                }
                continue
            }
            let exit: VCPUExit
            do {
                exit = try vcpu.run()
            } catch {
                finish(.hostError("\(error)"))
                return
            }
            switch exit {
            case let .io(port, size, isWrite, count):
                ioExits &+= 1
                // String I/O (count > 1) moves `count` items of `size` bytes, one access each.
                for item in 0..<count {
                    var event = ExitEvent(kind: isWrite ? .portWrite : .portRead, vcpu: index, address: UInt64(port), size: size,
                                          value: isWrite ? vcpu.ioData(item: item) : 0, count: count)
                    dispatch(&event, on: portBus)
                    if !isWrite { vcpu.setIOData(event.value, item: item) }
                    observer?(event)
                }
            case let .mmio(address, size, isWrite, value):
                mmioExits &+= 1
                var event = ExitEvent(kind: isWrite ? .mmioWrite : .mmioRead, vcpu: index, address: address, size: size, value: value)
                dispatch(&event, on: mmioBus)
                if !isWrite { vcpu.setMMIOData(event.value) }
                observer?(event)
            case .interrupted:
                continue
            case let .ioapicEOI(vector):
                ioapicEOI?(vector)
            case .hlt, .shutdown, .internalError, .failEntry, .systemEvent, .unexpected:
                let rip = try? vcpu.registers().rip
                finish(.vcpuFailed(vcpu: index, exit: exit.description, rip: rip))
                return
            }
        }
    }

    /// Offers the access to the hook, then (unless the hook took it) to the bus; a read's result
    /// ends up in `event.value`.
    @inline(__always)
    private func dispatch(_ event: inout ExitEvent, on bus: Bus) {
        if let hook, hook(&event) { return }
        if event.isWrite {
            bus.write(event.address, size: event.size, value: event.value)
        } else {
            event.value = bus.read(event.address, size: event.size)
        }
    }

    private func finish(_ outcome: RunOutcome) {
        if completion.finish(outcome) { stopAll() }
    }
}
