import CKVM

/// The vCPU scope: registers, CPUID, LAPIC state and KVM_RUN with its mmap'd `kvm_run` area.
///
/// A vCPU is driven by one thread at a time; only `requestImmediateExit()` may be called from others.
///
/// Sendable: the fd and the mapping are fixed for the object's life. The `kvm_run` area is written
/// by KVM and by the one thread that runs the vCPU between two KVM_RUNs; the only other access is
/// `requestImmediateExit`, a single byte KVM itself expects other threads to set.
public final class KVMVCPU: Sendable {
    public let id: Int
    public let fd: FileDescriptor
    /// The shared `kvm_run` area (KVM_GET_VCPU_MMAP_SIZE bytes), mapped for the vCPU's lifetime.
    nonisolated(unsafe) let runArea: UnsafeMutablePointer<kvm_run>
    private let runSize: Int

    init(id: Int, fd: FileDescriptor, runSize: Int) throws {
        self.id = id
        self.fd = fd
        self.runSize = runSize
        var error: Int32 = 0
        guard let area = ckvm_mmap(fd.rawValue, runSize, &error) else {
            throw KVMError.mmap(what: "the kvm_run area of vCPU \(id)", size: runSize, errno: error)
        }
        runArea = area.assumingMemoryBound(to: kvm_run.self)
    }

    deinit {
        _ = ckvm_munmap(runArea, runSize)
    }

    /// General-purpose registers (KVM_GET_REGS).
    public func registers() throws -> kvm_regs {
        var regs = kvm_regs()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_REGS, "KVM_GET_REGS", "of vCPU \(id)", &regs)
        return regs
    }

    /// Sets the general-purpose registers (KVM_SET_REGS).
    public func setRegisters(_ regs: kvm_regs) throws {
        var copy = regs
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_REGS, "KVM_SET_REGS", "of vCPU \(id)", &copy)
    }

    /// Segment, control and descriptor-table registers (KVM_GET_SREGS).
    public func specialRegisters() throws -> kvm_sregs {
        var sregs = kvm_sregs()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_SREGS, "KVM_GET_SREGS", "of vCPU \(id)", &sregs)
        return sregs
    }

    /// Sets segment, control and descriptor-table registers (KVM_SET_SREGS).
    public func setSpecialRegisters(_ sregs: kvm_sregs) throws {
        var copy = sregs
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_SREGS, "KVM_SET_SREGS", "of vCPU \(id)", &copy)
    }

    /// Sets the CPUID the guest sees (KVM_SET_CPUID2).
    public func setCPUID(_ table: CPUIDTable) throws {
        var copy = table
        let r = copy.withHeader { ckvm_ioctl(fd.rawValue, CKVM_SET_CPUID2, $0) }
        if r < 0 { throw KVMError.ioctl(name: "KVM_SET_CPUID2", argument: "of vCPU \(id) with \(table.count) entries", errno: -r) }
    }

    /// Makes the vCPU runnable at once (KVM_SET_MP_STATE with KVM_MP_STATE_RUNNABLE).
    /// With an in-kernel irqchip every vCPU but 0 otherwise waits for INIT/SIPI; the boot protocol
    /// starts all of them together.
    public func makeRunnable() throws {
        var state = kvm_mp_state(mp_state: UInt32(KVM_MP_STATE_RUNNABLE))
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_MP_STATE, "KVM_SET_MP_STATE", "RUNNABLE on vCPU \(id)", &state)
    }

    /// The vCPU's multiprocessing state (KVM_GET_MP_STATE): KVM_MP_STATE_RUNNABLE, _UNINITIALIZED, …
    public func mpState() throws -> UInt32 {
        var state = kvm_mp_state()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_MP_STATE, "KVM_GET_MP_STATE", "of vCPU \(id)", &state)
        return state.mp_state
    }

    /// The LAPIC register page (KVM_GET_LAPIC), 1 KiB.
    public func lapicState() throws -> [UInt8] {
        var state = kvm_lapic_state()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_LAPIC, "KVM_GET_LAPIC", "of vCPU \(id)", &state)
        return withUnsafeBytes(of: &state.regs) { Array($0) }
    }

    /// Replaces the LAPIC register page (KVM_SET_LAPIC); `registers` must be 1 KiB.
    public func setLapicState(_ registers: [UInt8]) throws {
        var state = kvm_lapic_state()
        guard registers.count == MemoryLayout.size(ofValue: state.regs) else {
            throw KVMError.ioctl(name: "KVM_SET_LAPIC", argument: "of vCPU \(id) with \(registers.count) bytes (needs 1024)", errno: 22)
        }
        withUnsafeMutableBytes(of: &state.regs) { $0.copyBytes(from: registers) }
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_LAPIC, "KVM_SET_LAPIC", "of vCPU \(id)", &state)
    }

    /// Enters the guest (KVM_RUN) and returns why it left. Allocates nothing.
    /// A kick from another thread (signal + immediate exit) returns `.interrupted`.
    public func run() throws -> VCPUExit {
        let r = ckvm_run(fd.rawValue)
        if r < 0 {
            if r == -EINTR_ || r == -EAGAIN_ { return .interrupted }
            throw KVMError.ioctl(name: "KVM_RUN", argument: "on vCPU \(id)", errno: -r)
        }
        return VCPUExit(runArea)
    }

    /// Makes the next (or current, once kicked by a signal) KVM_RUN return at once with EINTR.
    /// Safe from any thread.
    public func requestImmediateExit(_ on: Bool = true) {
        ckvm_run_set_immediate_exit(runArea, on ? 1 : 0)
    }
}
