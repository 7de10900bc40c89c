import CKVM
import Devices
import KVM

/// The exit loop of one vCPU: run, dispatch the exit to the port or MMIO bus, repeat until the
/// run completes. It allocates nothing per exit: exits are enums of plain values, the buses look
/// up devices in place, and data moves through the `kvm_run` area.
struct VCPULoop: Sendable {
    let vcpu: KVMVCPU
    let portBus: Bus
    let mmioBus: Bus
    let completion: Completion
    /// Kicks every vCPU out of KVM_RUN (called by whoever finishes the run).
    let stopAll: @Sendable () -> Void
    /// Receives this vCPU's exit counts when its loop ends.
    let report: @Sendable (_ ioExits: Int, _ mmioExits: Int) -> Void
    /// Told of every port and MMIO exit after it is dispatched, if set.
    let observer: (@Sendable (ExitEvent) -> Void)?

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
            let exit: VCPUExit
            do {
                exit = try vcpu.run()
            } catch {
                finish(.hostError("\(error)"))
                return
            }
            switch exit {
            case let .io(port, size, isWrite, count, data):
                ioExits &+= 1
                // String I/O (count > 1) moves `count` items of `size` bytes through the data area.
                for item in 0..<count {
                    let pointer = data + item * size
                    if isWrite {
                        portBus.write(UInt64(port), size: size, value: loadLittleEndian(pointer, size: size))
                    } else {
                        storeLittleEndian(portBus.read(UInt64(port), size: size), pointer, size: size)
                    }
                }
                if let observer {
                    observer(ExitEvent(kind: isWrite ? .portWrite : .portRead, vcpu: vcpu.id, address: UInt64(port), size: size,
                                       value: count > 0 ? loadLittleEndian(data, size: size) : 0, count: count))
                }
            case let .mmio(address, size, isWrite, data):
                mmioExits &+= 1
                if isWrite {
                    mmioBus.write(address, size: size, value: loadLittleEndian(data, size: size))
                } else {
                    storeLittleEndian(mmioBus.read(address, size: size), data, size: size)
                }
                if let observer {
                    observer(ExitEvent(kind: isWrite ? .mmioWrite : .mmioRead, vcpu: vcpu.id, address: address, size: size,
                                       value: loadLittleEndian(data, size: size)))
                }
            case .interrupted:
                continue
            case .hlt, .shutdown, .internalError, .failEntry, .systemEvent, .unexpected:
                let rip = try? vcpu.registers().rip
                finish(.vcpuFailed(vcpu: vcpu.id, exit: exit.description, rip: rip))
                return
            }
        }
    }

    private func finish(_ outcome: RunOutcome) {
        if completion.finish(outcome) { stopAll() }
    }
}
