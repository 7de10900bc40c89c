import KVM

/// What the route table and the routers need of a VM: KVM's MSI ioctls. `KVMVirtualMachine` is
/// the real one. A test can give the routers another, one that counts every message it is
/// handed (so "raised = delivered + pending" can be checked exactly, which a real LAPIC, merging
/// repeats of a vector in its IRR, cannot show).
///
/// The routers rely on KVM's semantics, so another injector must keep them:
/// - `commitRoutes` replaces the whole routing table (`KVM_SET_GSI_ROUTING`);
/// - attaching an irqfd to an eventfd that holds a count injects it at once, and a write to an
///   attached eventfd is taken by the injector within the write (KVM's wakeup callback);
/// - after `detachIRQFD` returns, nothing more is injected through that eventfd.
public protocol MSIInjector: AnyObject, Sendable {
    /// How many GSI routes the VM's table can hold in all (`KVM_CAP_IRQ_ROUTING`).
    var routeCapacity: Int { get }
    /// Whether messages carry 32-bit destinations (KVM's x2APIC API, `KVM_X2APIC_API_USE_32BIT_IDS`):
    /// then the routers hand over each guest address with its extended destination ID moved
    /// into the upper word (`ExtendedDestinationID`).
    var uses32BitAPICIDs: Bool { get }
    /// Replaces the VM's routing table with `table` (`KVM_SET_GSI_ROUTING`).
    func commitRoutes(_ table: borrowing GSIRoutingTable) throws
    /// A write to `eventfd` injects `gsi`'s route (`KVM_IRQFD`).
    func attachIRQFD(_ eventfd: EventFD, gsi: UInt32, resample: EventFD?) throws
    /// Stops `eventfd` injecting `gsi` (`KVM_IRQFD` with `KVM_IRQFD_FLAG_DEASSIGN`).
    func detachIRQFD(_ eventfd: EventFD, gsi: UInt32) throws
    /// Sends one message now (`KVM_SIGNAL_MSI`); false when the guest blocked it.
    @discardableResult
    func signalMSI(address: UInt64, data: UInt32) throws -> Bool
}

extension KVMVirtualMachine: MSIInjector {
    public var routeCapacity: Int { system.check(.irqRouting) }
    public var uses32BitAPICIDs: Bool { x2apicAPI.contains(.use32BitIDs) }

    public func commitRoutes(_ table: borrowing GSIRoutingTable) throws {
        try table.commit(to: self)
    }
}
