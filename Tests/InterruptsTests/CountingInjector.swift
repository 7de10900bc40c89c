import Interrupts
import KVM
import Threads

/// An `MSIInjector` that counts what it is handed instead of injecting it, by the message's data,
/// keeping KVM's semantics (an eventfd written while attached is taken, as the kernel takes it
/// inside the write; attaching takes what the eventfd held). A write to an attached eventfd is
/// counted when something looks: at its detach, or when a count is read. It also checks the
/// routers' ordering rules: an irqfd is attached only to a committed route, and a route does not
/// change under an attached irqfd.
final class CountingInjector: MSIInjector, Sendable {
    private struct State {
        var routes: [UInt32: (address: UInt64, data: UInt32)] = [:]
        var attached: [UInt32: EventFD] = [:]
        var delivered: [UInt32: UInt64] = [:]
        var signaled: UInt64 = 0
        var violations: [String] = []
        var commits = 0
    }
    private let state = Locked(State())

    var routeCapacity: Int { 1024 }
    var uses32BitAPICIDs: Bool { false }

    func commitRoutes(_ table: borrowing GSIRoutingTable) throws {
        let routes = table.msiRoutes
        state.withLock { s in
            for (gsi, _) in s.attached {
                guard let old = s.routes[gsi], let new = routes[gsi], old == new else {
                    s.violations.append("the route of GSI \(gsi) changed under its attached irqfd")
                    continue
                }
            }
            s.routes = routes
            s.commits += 1
        }
    }

    func attachIRQFD(_ eventfd: EventFD, gsi: UInt32, resample: EventFD?) throws {
        state.withLock { s in
            guard s.routes[gsi] != nil else {
                s.violations.append("irqfd attached to GSI \(gsi), whose route is not committed")
                return
            }
            if s.attached[gsi] != nil { s.violations.append("a second irqfd attached to GSI \(gsi)") }
            s.attached[gsi] = eventfd
            Self.take(gsi, eventfd, &s)
        }
    }

    func detachIRQFD(_ eventfd: EventFD, gsi: UInt32) throws {
        state.withLock { s in
            guard s.attached[gsi] === eventfd else {
                s.violations.append("detach of GSI \(gsi), which has no such irqfd")
                return
            }
            Self.take(gsi, eventfd, &s)
            s.attached[gsi] = nil
        }
    }

    func signalMSI(address: UInt64, data: UInt32) throws -> Bool {
        state.withLock { s in
            s.delivered[data, default: 0] += 1
            s.signaled += 1
        }
        return true
    }

    /// Messages with `data` delivered so far (by KVM_SIGNAL_MSI and through irqfds).
    func delivered(data: UInt32) -> UInt64 {
        state.withLock { s in
            for (gsi, fd) in s.attached { Self.take(gsi, fd, &s) }
            return s.delivered[data, default: 0]
        }
    }

    var violations: [String] { state.withLock { $0.violations } }
    var signaled: UInt64 { state.withLock { $0.signaled } }
    var commits: Int { state.withLock { $0.commits } }

    /// What the kernel would have injected from an attached eventfd: one interrupt per count
    /// taken (more than one at once would be events merged, which the caller's test excludes).
    private static func take(_ gsi: UInt32, _ fd: EventFD, _ s: inout State) {
        guard let count = (try? fd.consume()) ?? nil, count > 0, let route = s.routes[gsi] else { return }
        s.delivered[route.data, default: 0] += count
    }
}
