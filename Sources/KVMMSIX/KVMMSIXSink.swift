import Interrupts
import MSIX
import Synchronization

/// Connects an MSI-X function to KVM: its notifiers stage GSI routes and irqfds on an
/// `MSIVectorRouter`, its sends go out with `KVM_SIGNAL_MSI`, and a PBA poll turns backend events
/// held in a masked vector's eventfd into pending bits.
///
/// Called only from inside the `MSIXDevice` operation that holds the function's lock.
final class KVMMSIXSink: MSIXInterruptSink, Sendable {
    let router: MSIVectorRouter
    private let log: @Sendable (String) -> Void
    private let name: String
    /// Messages sent with KVM_SIGNAL_MSI since the function was made.
    let signaledTotal = Atomic<UInt64>(0)

    init(router: MSIVectorRouter, name: String, log: @escaping @Sendable (String) -> Void) {
        self.router = router
        self.name = name
        self.log = log
    }

    func send(_ message: MSIXMessage, vector: Int) {
        do {
            try router.send(address: message.address, data: message.data)
            signaledTotal.add(1, ordering: .relaxed)
        } catch {
            log("\(name): vector \(vector): \(error)")
        }
    }

    func use(vector: Int, message: MSIXMessage) throws {
        do {
            try router.use(vector, address: message.address, data: message.data)
        } catch InterruptError.routesExhausted(let capacity) {
            // Said once per machine: a guest that unmasks thousands of vectors past the table's
            // room would otherwise fill the log with the same line.
            if router.routes.firstExhaustionReport() {
                log("the KVM GSI routing table is full (\(capacity) MSI routes): vectors unmasked beyond it are sent with KVM_SIGNAL_MSI")
            }
            throw InterruptError.routesExhausted(capacity: capacity)
        } catch {
            log("\(name): vector \(vector) stays on KVM_SIGNAL_MSI: \(error)")
            throw error
        }
    }

    func release(vector: Int) {
        router.release(vector)
    }

    func poll(first: Int, end: Int, device: MSIXDevice) {
        for vector in first..<end where device.isMasked(vector: vector) {
            if router.takeHeldSignals(vector) > 0 { device.setPending(vector: vector) }
        }
    }

    func commit() {
        do {
            try router.commit()
        } catch {
            log("\(name): committing interrupt routes failed: \(error)")
        }
    }
}
