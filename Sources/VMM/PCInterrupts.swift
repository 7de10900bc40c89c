import Interrupts
import KVM
import MachineDevices
import Threads

/// Where the pc machine's interrupt controllers live (QEMU's `-machine kernel-irqchip=`).
public enum IRQChipMode: String, Sendable, CaseIterable {
    /// KVM's PIC, IOAPIC and PIT (KVM_CREATE_IRQCHIP): the default.
    case kernel
    /// KVM keeps only the LAPICs (KVM_CAP_SPLIT_IRQCHIP); the IOAPIC is the VMM's, so its
    /// messages can go through an interrupt remapper. There is no PIC and no PIT.
    case split
}

/// How a message from a device (or the IOAPIC) reaches the LAPICs: through the IOMMU's
/// interrupt remapping when the machine has one, then by KVM_SIGNAL_MSI, with extended
/// destination bits where KVM takes them when it uses 32-bit APIC IDs.
struct MSIDelivery: Sendable {
    let vm: KVMVirtualMachine
    let iommu: IntelIOMMU?
    let log: @Sendable (String) -> Void

    /// The message as KVM must get it, or nil when the remapper blocked it (its fault is recorded).
    func translate(address: UInt64, data: UInt32, requester: UInt16?, recordingFaults: Bool = true) -> (address: UInt64, data: UInt32)? {
        var a = address, d = data
        if let iommu {
            guard let remapped = iommu.remapInterrupt(address: address, data: data, sid: requester, recordingFaults: recordingFaults) else {
                return nil
            }
            (a, d) = remapped
        }
        return (Self.kvmAddress(a, vm: vm), d)
    }

    /// A compatibility-format address as KVM takes it: with 32-bit APIC IDs, extended
    /// destination bits moved where KVM reads them; otherwise the low word alone.
    static func kvmAddress(_ address: UInt64, vm: KVMVirtualMachine) -> UInt64 {
        vm.x2apicAPI.contains(.use32BitIDs) ? ExtendedDestinationID.kvmAddress(address) : address & 0xFFFF_FFFF
    }

    /// Sends the message a device with requester ID `requester` (nil: none) wrote.
    func send(address: UInt64, data: UInt32, requester: UInt16?) {
        guard let (a, d) = translate(address: address, data: data, requester: requester) else { return }
        do { try vm.signalMSI(address: a, data: d) } catch { log("MSI to \(a) data \(d): \(error)") }
    }
}

/// The split irqchip's IOAPIC joined to KVM: each delivery goes out as an MSI (remapped first
/// when the machine has an IOMMU); a level-triggered pin's message is also kept as the MSI
/// route of its GSI (0…23, KVM's reserved IOAPIC routes), which is how KVM learns to exit with
/// the vector's EOI (KVM_EXIT_IOAPIC_EOI), which `endOfInterrupt` hands back to the IOAPIC.
final class SplitIRQChip: Sendable {
    let ioapic: IOAPIC

    /// The pin routes a split irqchip's table starts with: one MSI route per GSI 0…23 to vector
    /// 0 edge-triggered, which names no vector for KVM to watch (KVM refuses irqchip routes
    /// when the irqchip is split).
    static let placeholderRoutes: [GSIRoute] = (0..<UInt32(IOAPIC.pinCount)).map { .msi(gsi: $0, address: 0xFEE0_0000, data: 0) }

    init(delivery: MSIDelivery, routes: GSIRouteTable) {
        // Each level-triggered pin's route as KVM last got it, so a repeat costs no commit.
        let sent = Locked([GSIRoute?](repeating: nil, count: IOAPIC.pinCount))
        // Keeps a level-triggered pin's message as its GSI's route (before it can be delivered,
        // as QEMU does on each entry write; again at delivery, should remapping have changed it).
        // Compare, change and commit under one lock: a device thread's delivery racing a vCPU's
        // entry write must not leave the older route in KVM while `sent` names the newer one.
        let keepRoute: @Sendable (Int, UInt64, UInt32) throws -> Void = { pin, address, data in
            let route = GSIRoute.msi(gsi: UInt32(pin), address: address, data: data)
            try sent.withLock { (sent: inout [GSIRoute?]) throws in
                guard sent[pin] != route else { return }
                routes.setPinRoute(route, at: pin)
                try routes.commit()
                sent[pin] = route
            }
        }
        ioapic = IOAPIC(deliver: { pin, message, level in
            // The IOAPIC's requests carry no requester ID (as QEMU's): no source-ID verification.
            guard let (address, data) = delivery.translate(address: message.address, data: message.data, requester: nil) else { return }
            do {
                if level { try keepRoute(pin, address, data) }
                try delivery.vm.signalMSI(address: address, data: data)
            } catch {
                delivery.log("IOAPIC pin \(pin): \(error)")
            }
        }, entryChanged: { pin, message, level in
            guard level, let (address, data) = delivery.translate(address: message.address, data: message.data, requester: nil,
                                                                   recordingFaults: false) else { return }
            do { try keepRoute(pin, address, data) } catch { delivery.log("IOAPIC pin \(pin) route: \(error)") }
        })
    }

    /// Sets GSI `gsi`'s line (an ISA IRQ n is GSI n, but IRQ 0 is GSI 2, as the MADT's override says).
    func setLevel(gsi: UInt32, high: Bool) {
        ioapic.setLevel(pin: gsi == 0 ? 2 : Int(gsi), high: high)
    }

    func endOfInterrupt(vector: UInt8) {
        ioapic.endOfInterrupt(vector: vector)
    }
}
