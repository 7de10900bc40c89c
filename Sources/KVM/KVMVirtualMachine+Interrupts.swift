import CKVM
import TextFormat

/// One entry of the GSI routing table.
public enum GSIRoute: Equatable, Sendable {
    /// An MSI message: address and data as the guest programmed them.
    case msi(gsi: UInt32, address: UInt64, data: UInt32)
    /// A pin of an in-kernel interrupt controller (0 = PIC master, 1 = PIC slave, 2 = IOAPIC).
    case irqchip(gsi: UInt32, chip: UInt32, pin: UInt32)

    /// The GSI this entry routes, whichever its kind.
    public var gsi: UInt32 {
        switch self {
        case let .msi(gsi, _, _), let .irqchip(gsi, _, _): gsi
        }
    }

    /// The PC's routes, as QEMU sets them for its pc machines: GSI 0 (the PIT) reaches PIC pin
    /// 0 and IOAPIC pin 2 (the MADT's interrupt source override says so), GSI 2 is the PIC
    /// cascade and has no route, every other GSI n reaches PIC pin n (n < 16) and IOAPIC pin n.
    public static let pcPinRoutes: [GSIRoute] = {
        var routes: [GSIRoute] = []
        for gsi: UInt32 in 0..<16 where gsi != 2 { routes.append(.irqchip(gsi: gsi, chip: gsi < 8 ? 0 : 1, pin: gsi % 8)) }
        routes.append(.irqchip(gsi: 0, chip: 2, pin: 2))
        for gsi: UInt32 in 1..<24 where gsi != 2 { routes.append(.irqchip(gsi: gsi, chip: 2, pin: gsi)) }
        return routes
    }()

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
    ///
    /// With `resample` (KVM_IRQFD_FLAG_RESAMPLE; the GSI must be a level-triggered irqchip pin):
    /// a write asserts the line and KVM keeps it asserted until the guest acknowledges the
    /// interrupt (EOI), then de-asserts it and signals `resample`, so the device can re-check its
    /// condition and write again if it still holds: level semantics with no exit.
    public func attachIRQFD(_ eventfd: EventFD, gsi: UInt32, resample: EventFD? = nil) throws {
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: eventfd.rawValue)
        request.gsi = gsi
        if let resample {
            request.flags = UInt32(KVM_IRQFD_FLAG_RESAMPLE)
            request.resamplefd = UInt32(bitPattern: resample.rawValue)
        }
        try injectedFailure(.irqfd, "attaching fd \(eventfd.rawValue) to GSI \(gsi)")
        _ = try withUnsafeMutablePointer(to: &request) {
            try checkedIoctl(fd.rawValue, CKVM_IRQFD, "KVM_IRQFD", "attaching fd \(eventfd.rawValue) to GSI \(gsi)", $0)
        }
    }

    /// Detaches `eventfd` from `gsi` (KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN).
    public func detachIRQFD(_ eventfd: EventFD, gsi: UInt32) throws {
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: eventfd.rawValue)
        request.gsi = gsi
        request.flags = UInt32(KVM_IRQFD_FLAG_DEASSIGN)
        try injectedFailure(.irqfd, "detaching fd \(eventfd.rawValue) from GSI \(gsi)")
        _ = try withUnsafeMutablePointer(to: &request) {
            try checkedIoctl(fd.rawValue, CKVM_IRQFD, "KVM_IRQFD", "detaching fd \(eventfd.rawValue) from GSI \(gsi)", $0)
        }
    }

    /// Makes guest writes of `length` bytes (0, 1, 2, 4 or 8; 0 matches a write of any length)
    /// to `address` signal `eventfd` without a vCPU exit (KVM_IOEVENTFD). `port` selects port I/O
    /// space instead of MMIO. With `datamatch` only writes of exactly that value are caught
    /// (KVM_IOEVENTFD_FLAG_DATAMATCH); others exit as usual. Removing (`deassign`) must name the
    /// same address, length and datamatch.
    public func attachIOEventFD(_ eventfd: EventFD, address: UInt64, length: UInt32, port: Bool = false,
                                datamatch: UInt64? = nil, deassign: Bool = false) throws {
        var request = kvm_ioeventfd()
        request.addr = address
        request.len = length
        request.fd = eventfd.rawValue
        var flags: UInt32 = 0
        if let datamatch {
            flags |= UInt32(1 << kvm_ioeventfd_flag_nr_datamatch)
            request.datamatch = datamatch
        }
        if port { flags |= UInt32(1 << kvm_ioeventfd_flag_nr_pio) }
        if deassign { flags |= UInt32(1 << kvm_ioeventfd_flag_nr_deassign) }
        request.flags = flags
        try injectedFailure(.ioeventfd, "\(deassign ? "removing" : "adding") \(length) bytes at \(hex(address))")
        _ = try withUnsafeMutablePointer(to: &request) {
            try checkedIoctl(fd.rawValue, CKVM_IOEVENTFD, "KVM_IOEVENTFD",
                             "\(deassign ? "removing" : "adding") \(length) bytes at \(hex(address))", $0)
        }
    }

    /// Sets the level of an irqchip input (KVM_IRQ_LINE_STATUS): `gsi` 0–23 is an IOAPIC pin (0–15
    /// also a PIC pin). A level-triggered device holds it high while its condition holds and sets
    /// it low when it clears. Returns KVM's status: > 0 delivered, 0 masked or coalesced, < 0
    /// ignored.
    @discardableResult
    public func setIRQLine(gsi: UInt32, high: Bool) throws -> Int32 {
        var level = kvm_irq_level()
        level.irq = gsi
        level.level = high ? 1 : 0
        _ = try withUnsafeMutablePointer(to: &level) {
            try checkedIoctl(fd.rawValue, CKVM_IRQ_LINE_STATUS, "KVM_IRQ_LINE_STATUS", "GSI \(gsi) \(high ? "high" : "low")", $0)
        }
        return level.status
    }

    /// The in-kernel IOAPIC's state (KVM_GET_IRQCHIP, chip 2): its pin levels (IRR) and its 24
    /// redirection entries as 64-bit values (vector bits 7:0, delivery mode 10:8, trigger bit 15,
    /// mask bit 16, destination 63:56).
    public func ioapicState() throws -> (pinLevels: UInt32, redirection: [UInt64]) {
        var chip = kvm_irqchip()
        chip.chip_id = UInt32(KVM_IRQCHIP_IOAPIC)
        _ = try withUnsafeMutablePointer(to: &chip) { try checkedIoctl(fd.rawValue, CKVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", "IOAPIC", $0) }
        return (ckvm_ioapic_irr(&chip), (0..<24).map { ckvm_ioapic_entry(&chip, UInt32($0)) })
    }

    /// Writes IOAPIC redirection entry `pin` (0–23), as a guest's IOREGSEL/IOWIN writes would
    /// (KVM_GET_IRQCHIP, then KVM_SET_IRQCHIP).
    public func setIOAPICRedirection(pin: Int, _ entry: UInt64) throws {
        guard (0..<24).contains(pin) else {
            throw KVMError.ioctl(name: "KVM_SET_IRQCHIP", argument: "IOAPIC pin \(pin) (0…23)", errno: 22)
        }
        var chip = kvm_irqchip()
        chip.chip_id = UInt32(KVM_IRQCHIP_IOAPIC)
        _ = try withUnsafeMutablePointer(to: &chip) { try checkedIoctl(fd.rawValue, CKVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", "IOAPIC", $0) }
        ckvm_ioapic_set_entry(&chip, UInt32(pin), entry)
        _ = try withUnsafeMutablePointer(to: &chip) {
            try checkedIoctl(fd.rawValue, CKVM_SET_IRQCHIP, "KVM_SET_IRQCHIP", "IOAPIC pin \(pin)", $0)
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
