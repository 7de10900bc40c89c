/// Bus Master Enable (PCI Command bit 2): a function whose BME is clear may not issue memory
/// writes, and an MSI-X message is a memory write (PCI 3.0 §6.8.2). This project's rule:
///
/// - While BME is clear, nothing leaves the function: every vector is *blocked* as if masked for
///   routing (its use is released, so no irqfd can inject), and a raise is dropped and counted
///   (`notifyDroppedBusMaster`), not pended: the message could not be written, as QEMU drops it.
/// - The guest-visible state does not change: Mask bits, Message Control and the PBA read as
///   before. Pending bits set before BME was cleared stay pending.
/// - When BME is set again, each vector that is not masked is handled as an unmask, in
///   ascending order: use(v, message), then its pending bit is delivered.
///
/// A function not on a PCI bus (the replayer, unit tests) starts with BME set; the PCI layer
/// tells the function the Command register's value when it attaches and on every write.
extension MSIXDevice {
    /// Whether Bus Master Enable is set.
    public var isBusMasterEnabled: Bool { busMaster }

    /// Follows the Command register's Bus Master Enable bit. Calls no notifier when it does not
    /// change; one commit at the end when it does.
    public func setBusMaster(enabled: Bool) {
        guard enabled != busMaster else { return }
        busMaster = enabled
        for vector in 0..<vectorCount where !isMasked(vector: vector) {
            maskStateChanged(vector, nowMasked: !enabled)
        }
        finishOperation()
    }

    /// No message may leave for `vector` now: it is masked, or BME is clear.
    func isBlocked(_ vector: Int) -> Bool {
        !busMaster || isMasked(vector: vector)
    }
}
