import CKVM

/// The vCPU scope: registers, CPUID, LAPIC state and KVM_RUN with its mmap'd `kvm_run` area.
/// Exits are plain values; the data of a port or MMIO exit is read and completed through
/// `ioData`/`setIOData`/`setMMIOData`, so no pointer into `kvm_run` leaves this type.
///
/// A vCPU is driven by one thread at a time; only `requestImmediateExit()` may be called from others.
///
/// Sendable: the fd and the mapping are fixed for the object's life. The `kvm_run` area is written
/// by KVM and by the one thread that runs the vCPU between two KVM_RUNs; the only other access is
/// `requestImmediateExit`, a single byte KVM itself expects other threads to set.
public final class KVMVCPU: Sendable {
    /// The index passed to KVM_CREATE_VCPU (`vcpu_id`), which KVM also gives the vCPU as its
    /// initial APIC ID.
    public let id: Int
    /// The vCPU's descriptor (from KVM_CREATE_VCPU), closed when the last reference goes away.
    public let fd: OwnedFileDescriptor
    /// The shared `kvm_run` area (KVM_GET_VCPU_MMAP_SIZE bytes), mapped for the vCPU's lifetime.
    nonisolated(unsafe) let runArea: UnsafeMutablePointer<kvm_run>
    private let runSize: Int

    init(id: Int, fd: OwnedFileDescriptor, runSize: Int) throws {
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
    public func registers() throws -> Registers {
        var regs = kvm_regs()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_REGS, "KVM_GET_REGS", "of vCPU \(id)", &regs)
        return Registers(regs)
    }

    /// Sets the general-purpose registers (KVM_SET_REGS).
    public func setRegisters(_ registers: Registers) throws {
        var regs = registers.kvm
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_REGS, "KVM_SET_REGS", "of vCPU \(id)", &regs)
    }

    /// Segment, control and descriptor-table registers (KVM_GET_SREGS).
    public func specialRegisters() throws -> SpecialRegisters {
        SpecialRegisters(try kvmSpecialRegisters())
    }

    /// Sets segment, control and descriptor-table registers (KVM_SET_SREGS); the pending
    /// interrupt bitmap stays as KVM has it.
    public func setSpecialRegisters(_ registers: SpecialRegisters) throws {
        var sregs = registers.kvm(over: try kvmSpecialRegisters())
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_SREGS, "KVM_SET_SREGS", "of vCPU \(id)", &sregs)
    }

    private func kvmSpecialRegisters() throws -> kvm_sregs {
        var sregs = kvm_sregs()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_SREGS, "KVM_GET_SREGS", "of vCPU \(id)", &sregs)
        return sregs
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

    /// Sets the multiprocessing state (KVM_SET_MP_STATE): `.uninitialized` makes the vCPU wait
    /// for INIT/SIPI again, as after reset.
    public func setMPState(_ state: MPState) throws {
        var value = kvm_mp_state(mp_state: state.rawValue)
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_MP_STATE, "KVM_SET_MP_STATE", "\(state.rawValue) on vCPU \(id)", &value)
    }

    /// The vCPU's multiprocessing state (KVM_GET_MP_STATE).
    public func mpState() throws -> MPState {
        var state = kvm_mp_state()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_MP_STATE, "KVM_GET_MP_STATE", "of vCPU \(id)", &state)
        return MPState(rawValue: state.mp_state)
    }

    /// A vCPU's multiprocessing state as KVM reports it.
    public struct MPState: RawRepresentable, Sendable, Equatable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Running or ready to run.
        public static let runnable = MPState(rawValue: UInt32(KVM_MP_STATE_RUNNABLE))
        /// Waiting for INIT/SIPI, as an AP after reset.
        public static let uninitialized = MPState(rawValue: UInt32(KVM_MP_STATE_UNINITIALIZED))
        /// INIT received, waiting for SIPI.
        public static let initReceived = MPState(rawValue: UInt32(KVM_MP_STATE_INIT_RECEIVED))
        /// Halted in the in-kernel LAPIC, waiting for an interrupt.
        public static let halted = MPState(rawValue: UInt32(KVM_MP_STATE_HALTED))
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

    /// Item `index` of the port exit `run` just returned: the value a write carries, or what has
    /// been stored for a read. Only the thread that ran the vCPU may call it, before the next
    /// `run`; an item outside the exit's data reads as 0.
    public func ioData(item index: Int) -> UInt64 {
        guard let (pointer, size) = ioItem(index) else { return 0 }
        return loadLittleEndian(pointer, size: size)
    }

    /// Stores the value a port read returns for item `index`, which the guest gets when the vCPU
    /// next runs. Same rules as `ioData`; an item outside the exit's data is ignored.
    public func setIOData(_ value: UInt64, item index: Int) {
        guard let (pointer, size) = ioItem(index) else { return }
        storeLittleEndian(value, pointer, size: size)
    }

    /// Stores the value an MMIO read returns (the low `size` bytes of the exit), which the guest
    /// gets when the vCPU next runs.
    public func setMMIOData(_ value: UInt64) {
        storeLittleEndian(value, ckvm_run_mmio_data(runArea), size: Int(min(8, ckvm_run_mmio_length(runArea))))
    }

    /// Where item `index` of the current port exit lies in the `kvm_run` area, checked against
    /// the mapping (KVM places the data there; the check keeps a wrong index harmless).
    private func ioItem(_ index: Int) -> (UnsafeMutableRawPointer, Int)? {
        let size = Int(ckvm_run_io_size(runArea)), offset = Int(truncatingIfNeeded: ckvm_run_io_data_offset(runArea))
        guard index >= 0, index < Int(ckvm_run_io_count(runArea)), (1...8).contains(size), offset >= 0,
              offset <= runSize, (runSize - offset) / size > index else { return nil }
        return (UnsafeMutableRawPointer(runArea).advanced(by: offset + index * size), size)
    }

    /// Makes the next (or current, once kicked by a signal) KVM_RUN return at once with EINTR.
    /// Safe from any thread.
    public func requestImmediateExit(_ on: Bool = true) {
        ckvm_run_set_immediate_exit(runArea, on ? 1 : 0)
    }
}
