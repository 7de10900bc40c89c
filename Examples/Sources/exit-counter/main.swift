// exit-counter: a machine with a custom exit hook that counts port exits per port (and MMIO
// exits), prints the busiest ports, and checks the counts against the machine's own statistics.
//
//   swift run exit-counter [GUEST]     (default: ../.build/guests/exits.elf)
import Foundation
import Synchronization
import Threads
import VMM

/// One counter per port, allocated up front: the observer runs on the exit path and must not allocate.
final class PortCounts: Sendable {
    let ports = Locked([Int](repeating: 0, count: 0x10000))
    let mmio = Atomic<Int>(0)

    func count(_ event: ExitEvent) {
        switch event.kind {
        case .portRead, .portWrite: ports.withLock { $0[Int(event.address & 0xFFFF)] += 1 }
        case .mmioRead, .mmioWrite: mmio.add(1, ordering: .relaxed)
        }
    }
}

let guest = CommandLine.arguments.dropFirst().first ?? "../.build/guests/exits.elf"
let counts = PortCounts()
var configuration = MachineConfiguration()
configuration.echoConsole = false
configuration.exitObserver = { counts.count($0) }
do {
    let (machine, outcome) = try Machine.runGuest(at: guest, configuration: configuration, timeout: 30)
    let ports = counts.ports.withLock { $0 }
    let busiest = ports.indices.filter { ports[$0] > 0 }.sorted { ports[$0] > ports[$1] }.prefix(5)
    for port in busiest { print(String(format: "port 0x%04x: %d exits", port, ports[port])) }
    let portTotal = ports.reduce(0, +), mmioTotal = counts.mmio.load(ordering: .relaxed)
    print("exit-counter: \(outcome); \(portTotal) port and \(mmioTotal) MMIO exits counted; the machine's: \(machine.statistics.line)")
    // A string instruction is one exit and several events, so the counts can only exceed KVM's.
    let consistent = portTotal >= machine.statistics.ioExits && mmioTotal == machine.statistics.mmioExits
    exit(outcome == .guestExit(value: 0) && consistent && portTotal > 0 ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("exit-counter: \(error)\n".utf8))
    exit(2)
}
