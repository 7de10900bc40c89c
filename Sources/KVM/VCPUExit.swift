import CKVM
import TextFormat

/// Why KVM_RUN returned, as plain values copied out of the `kvm_run` area.
///
/// A port exit's items (and a read's result) go through `KVMVCPU.ioData(item:)` and
/// `setIOData(_:item:)`; an MMIO write carries its value and a read is completed with
/// `KVMVCPU.setMMIOData(_:)`, before the next `run`.
public enum VCPUExit: Sendable, Equatable {
    /// Port I/O: `count` items of `size` bytes (count > 1 for string instructions).
    case io(port: UInt16, size: Int, isWrite: Bool, count: Int)
    /// MMIO of `size` bytes (1…8) at `address`; `value` is what a write stores (0 for a read).
    case mmio(address: UInt64, size: Int, isWrite: Bool, value: UInt64)
    /// The guest halted with no in-kernel LAPIC to wait on.
    case hlt
    /// Triple fault or similar: the guest reset itself.
    case shutdown
    /// KVM could not handle the guest (e.g. an emulation failure); `suberror` says which.
    case internalError(suberror: UInt32, detail: UInt64)
    /// The hardware refused to enter the guest.
    case failEntry(reason: UInt64)
    /// A system event (reset, shutdown, crash) requested by the guest.
    case systemEvent(type: UInt32)
    /// KVM_RUN returned EINTR: a kick from another thread (or a signal).
    case interrupted
    /// With a split irqchip: the guest's LAPIC took an EOI for `vector`, a level-triggered
    /// vector of the VMM's IOAPIC (KVM_EXIT_IOAPIC_EOI).
    case ioapicEOI(vector: UInt8)
    /// Any other exit reason.
    case unexpected(reason: UInt32)

    init(_ run: UnsafeMutablePointer<kvm_run>) {
        let reason = ckvm_run_exit_reason(run)
        switch Int32(reason) {
        case KVM_EXIT_IO:
            self = .io(port: ckvm_run_io_port(run), size: Int(ckvm_run_io_size(run)),
                       isWrite: ckvm_run_io_direction(run) == UInt8(KVM_EXIT_IO_OUT), count: Int(ckvm_run_io_count(run)))
        case KVM_EXIT_MMIO:
            let size = Int(min(8, ckvm_run_mmio_length(run))), isWrite = ckvm_run_mmio_is_write(run) != 0
            self = .mmio(address: ckvm_run_mmio_address(run), size: size, isWrite: isWrite,
                         value: isWrite ? loadLittleEndian(ckvm_run_mmio_data(run), size: size) : 0)
        case KVM_EXIT_HLT: self = .hlt
        case KVM_EXIT_SHUTDOWN: self = .shutdown
        case KVM_EXIT_INTERNAL_ERROR:
            self = .internalError(suberror: ckvm_run_internal_suberror(run),
                                  detail: ckvm_run_internal_ndata(run) > 0 ? ckvm_run_internal_data(run, 0) : 0)
        case KVM_EXIT_FAIL_ENTRY: self = .failEntry(reason: ckvm_run_fail_entry_reason(run))
        case KVM_EXIT_SYSTEM_EVENT: self = .systemEvent(type: ckvm_run_system_event_type(run))
        case KVM_EXIT_INTR: self = .interrupted
        case KVM_EXIT_IOAPIC_EOI: self = .ioapicEOI(vector: ckvm_run_eoi_vector(run))
        default: self = .unexpected(reason: reason)
        }
    }
}

extension VCPUExit: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .io(port, size, isWrite, count):
            "IO \(isWrite ? "write" : "read") of \(size) bytes ×\(count) at port \(hex(port))"
        case let .mmio(address, size, isWrite, _):
            "MMIO \(isWrite ? "write" : "read") of \(size) bytes at \(hex(address))"
        case .hlt: "HLT"
        case .shutdown: "SHUTDOWN (triple fault)"
        case let .internalError(suberror, detail):
            "INTERNAL_ERROR suberror \(suberror) (\(Self.suberrorName(suberror))), data \(hex(detail))"
        case let .failEntry(reason): "FAIL_ENTRY, hardware reason \(hex(reason))"
        case let .systemEvent(type): "SYSTEM_EVENT type \(type)"
        case .interrupted: "INTR"
        case let .ioapicEOI(vector): "IOAPIC_EOI of vector \(hex(vector))"
        case let .unexpected(reason): "unexpected exit \(reason)"
        }
    }

    static func suberrorName(_ suberror: UInt32) -> String {
        switch Int32(suberror) {
        case KVM_INTERNAL_ERROR_EMULATION: "emulation failure"
        case KVM_INTERNAL_ERROR_SIMUL_EX: "exception while delivering an exception"
        case KVM_INTERNAL_ERROR_DELIVERY_EV: "event delivery failed"
        default: "unknown"
        }
    }
}
