import CKVM
import TextFormat

/// One entry of the GSI routing table.
public enum GSIRoute: Equatable, Sendable {
    /// An MSI message: address and data as the guest programmed them.
    case msi(gsi: UInt32, address: UInt64, data: UInt32)
    /// A pin of an in-kernel interrupt controller (0 = PIC master, 1 = PIC slave, 2 = IOAPIC).
    case irqchip(gsi: UInt32, chip: UInt32, pin: UInt32)

    public var gsi: UInt32 {
        switch self {
        case let .msi(gsi, _, _), let .irqchip(gsi, _, _): gsi
        }
    }

    /// The routes KVM_CREATE_IRQCHIP installs on x86: GSI 0–15 to a PIC pin and the IOAPIC pin of the
    /// same number, 16–23 to the IOAPIC. KVM_SET_GSI_ROUTING replaces the whole table, so every commit
    /// must carry these again or the legacy interrupts die.
    public static let defaultPinRoutes: [GSIRoute] = {
        var routes: [GSIRoute] = []
        for gsi: UInt32 in 0..<16 {
            routes.append(.irqchip(gsi: gsi, chip: gsi < 8 ? 0 : 1, pin: gsi % 8))
            routes.append(.irqchip(gsi: gsi, chip: 2, pin: gsi))
        }
        for gsi: UInt32 in 16..<24 { routes.append(.irqchip(gsi: gsi, chip: 2, pin: gsi)) }
        return routes
    }()
}

extension KVMVirtualMachine {
    /// Throws the failure a test planned for the next call of `ioctl` (see `faults`).
    @inline(__always)
    func injectedFailure(_ ioctl: KVMInjectableIoctl, _ argument: @autoclosure () -> String) throws {
        if let errno = faults.take(ioctl) { throw KVMError.ioctl(name: ioctl.rawValue, argument: argument(), errno: errno) }
    }

    /// Replaces the whole GSI routing table with `routes` (KVM_SET_GSI_ROUTING). For a table that
    /// changes often, keep a `GSIRoutingTable` and commit it instead.
    public func setGSIRouting(_ routes: [GSIRoute]) throws {
        let table = GSIRoutingTable(pinRoutes: routes, capacity: 0)
        try table.commit(to: self)
    }

    /// Attaches `eventfd` to `gsi`: a write to the eventfd injects that GSI (KVM_IRQFD).
    public func attachIRQFD(_ eventfd: EventFD, gsi: UInt32) throws {
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: eventfd.fd.rawValue)
        request.gsi = gsi
        try injectedFailure(.irqfd, "attaching fd \(eventfd.fd.rawValue) to GSI \(gsi)")
        _ = try withUnsafeMutablePointer(to: &request) {
            try checkedIoctl(fd.rawValue, CKVM_IRQFD, "KVM_IRQFD", "attaching fd \(eventfd.fd.rawValue) to GSI \(gsi)", $0)
        }
    }

    /// Detaches `eventfd` from `gsi` (KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN).
    public func detachIRQFD(_ eventfd: EventFD, gsi: UInt32) throws {
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: eventfd.fd.rawValue)
        request.gsi = gsi
        request.flags = UInt32(KVM_IRQFD_FLAG_DEASSIGN)
        try injectedFailure(.irqfd, "detaching fd \(eventfd.fd.rawValue) from GSI \(gsi)")
        _ = try withUnsafeMutablePointer(to: &request) {
            try checkedIoctl(fd.rawValue, CKVM_IRQFD, "KVM_IRQFD", "detaching fd \(eventfd.fd.rawValue) from GSI \(gsi)", $0)
        }
    }

    /// Makes guest writes of `length` bytes to `address` signal `eventfd` without a vCPU exit (KVM_IOEVENTFD).
    /// `port` selects port I/O space instead of MMIO.
    public func attachIOEventFD(_ eventfd: EventFD, address: UInt64, length: UInt32, port: Bool = false, deassign: Bool = false) throws {
        var request = kvm_ioeventfd()
        request.addr = address
        request.len = length
        request.fd = eventfd.fd.rawValue
        var flags: UInt32 = 0
        if port { flags |= UInt32(1 << kvm_ioeventfd_flag_nr_pio) }
        if deassign { flags |= UInt32(1 << kvm_ioeventfd_flag_nr_deassign) }
        request.flags = flags
        try injectedFailure(.ioeventfd, "\(deassign ? "removing" : "adding") \(length) bytes at \(hex(address))")
        _ = try withUnsafeMutablePointer(to: &request) {
            try checkedIoctl(fd.rawValue, CKVM_IOEVENTFD, "KVM_IOEVENTFD",
                             "\(deassign ? "removing" : "adding") \(length) bytes at \(hex(address))", $0)
        }
    }

    /// Sends one MSI message to the in-kernel LAPICs (KVM_SIGNAL_MSI). Returns true when it was
    /// delivered (1), false when the guest blocked it (0).
    @discardableResult
    public func signalMSI(address: UInt64, data: UInt32) throws -> Bool {
        var msi = kvm_msi()
        msi.address_lo = UInt32(truncatingIfNeeded: address)
        msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        msi.data = data
        try injectedFailure(.signalMSI, "for address \(hex(address)) data \(hex(data))")
        let r = withUnsafeMutablePointer(to: &msi) { ckvm_ioctl(fd.rawValue, CKVM_SIGNAL_MSI, $0) }
        if r < 0 {
            throw KVMError.ioctl(name: "KVM_SIGNAL_MSI", argument: "for address \(hex(address)) data \(hex(data))", errno: -r)
        }
        return r > 0
    }
}
