// vmm-bench: the VMM's side of the benchmarks in Scripts/ (each compares with a C program).
//
//   vmm-bench unmask N each [immediate|coalesced]   unmask N MSI-X vectors one guest write at a time
//   vmm-bench unmask N all [immediate|coalesced]    clear MaskAll with N vectors unmasked (one write)
//
// Drives the MSI-X test device through the machine's buses exactly as guest writes arrive after
// their exit, and prints "ns=T" for the writes and the route commits they need, until every
// irqfd is attached. The last word is the machine's RouteCommitPolicy (default immediate).
import VMM

#if canImport(Glibc)
import Glibc
#endif

func usage() -> Never {
    MachineConfiguration.standardError("usage: vmm-bench unmask N each|all [immediate|coalesced]   (N in 1…2048)")
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 4 || arguments.count == 5, arguments[1] == "unmask", let n = Int(arguments[2]), (1...2048).contains(n),
      arguments[3] == "each" || arguments[3] == "all" else { usage() }
let commits = arguments.count == 5 ? arguments[4] : "immediate"
guard commits == "immediate" || commits == "coalesced" else { usage() }

do {
    var configuration = MachineConfiguration()
    configuration.msixVectors = n
    configuration.echoConsole = false
    configuration.testDevices = 2
    configuration.routeCommits = commits == "coalesced" ? .coalesced : .immediate
    let machine = try Machine(configuration)
    let driver = try MSIXTestDeviceDriver(machine: machine)
    // Warm up on the second device: the first pass through these paths pays one-time costs
    // (runtime metadata, first routing commit of the VM, the start of the route table's helper
    // thread for long attach batches) that are not the cost of unmasking.
    let warm = try MSIXTestDeviceDriver(machine: machine, slot: 2)
    if arguments[3] == "each" {
        warm.messageControl(enable: true, maskAll: false)
        warm.program(0, data: 0x30, masked: false)
        warm.mask(0, true)
    } else {
        warm.messageControl(enable: true, maskAll: true)
        for v in 0..<n { warm.program(v, data: 0x30, masked: false) }
        warm.messageControl(enable: true, maskAll: false)
        try machine.routes.commit()
        warm.messageControl(enable: true, maskAll: true)
    }
    warm.messageControl(enable: false, maskAll: false)
    try machine.routes.commit()
    let clock = ContinuousClock()
    // The clock's first reading pays for resolving and faulting in its code: not in the timing.
    _ = clock.measure {}
    let elapsed: Duration
    if arguments[3] == "each" {
        driver.messageControl(enable: true, maskAll: false)
        for v in 0..<n { driver.program(v, data: 0x30 + UInt32(v % 200), masked: true) }
        // Timed until every irqfd is attached: a waiting coalesced batch is committed inside the timing.
        elapsed = try clock.measure {
            for v in 0..<n { driver.mask(v, false) }
            try machine.routes.commit()
        }
    } else {
        driver.messageControl(enable: true, maskAll: true)
        for v in 0..<n { driver.program(v, data: 0x30 + UInt32(v % 200), masked: false) }
        elapsed = try clock.measure {
            driver.messageControl(enable: true, maskAll: false)
            try machine.routes.commit()
        }
    }
    guard machine.testDevices[0].attachedIRQFDs == n else {
        MachineConfiguration.standardError("vmm-bench: \(machine.testDevices[0].attachedIRQFDs) of \(n) irqfds attached")
        exit(1)
    }
    let parts = elapsed.components
    print("ns=\(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)")
} catch {
    MachineConfiguration.standardError("vmm-bench: \(error)")
    exit(2)
}
