import MachineDevices
import Synchronization
import Threads

/// ACPI S3 (suspend to RAM) for the pc machine.
///
/// When the guest sets SLP_EN with the S3 type, `request` marks the machine suspending and the
/// machine kicks every vCPU; each vCPU's loop parks here before it enters the guest again, so
/// no guest instruction runs after the write that suspended (kvm-unit-tests' s3 test checks
/// exactly that). The bootstrap vCPU waits until every vCPU has parked and the wake time has
/// come (the RTC alarm, when the guest enabled it as a wake event; with none the machine
/// sleeps until the run ends), then wakes them: as firmware does on resume, the bootstrap vCPU
/// starts in real mode at the FACS waking vector and the others wait for INIT/SIPI.
///
/// Lock order: a vCPU holds no other lock while it parks.
final class Suspension: Sendable {
    private let monitor = Monitor()
    private let requested = Atomic<Bool>(false)
    /// Under `monitor`: vCPUs parked now.
    private nonisolated(unsafe) var parked = 0
    private let vcpuCount: Int
    /// When to wake (seconds since the epoch), asked once every vCPU has parked; nil: no wake event.
    private let wakeTime: @Sendable () -> Int?
    /// Called once at the wake, before any vCPU runs (the wake event's status bits).
    private let woke: @Sendable () -> Void

    init(vcpuCount: Int, wakeTime: @escaping @Sendable () -> Int?, woke: @escaping @Sendable () -> Void) {
        self.vcpuCount = vcpuCount
        self.wakeTime = wakeTime
        self.woke = woke
    }

    /// Cheap: read on the exit path.
    var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Marks the machine suspending (the caller kicks the vCPUs).
    func request() {
        monitor.withLock {
            requested.store(true, ordering: .releasing)
            monitor.broadcast()
        }
    }

    /// Parks the calling vCPU until the machine wakes (true) or the run ends (false).
    func park(isBootstrap: Bool, finished: () -> Bool) -> Bool {
        monitor.withLock {
            parked += 1
            defer { parked -= 1 }
            var wakeAt: Int?
            var asked = false
            while requested.load(ordering: .acquiring) {
                if finished() { return false }
                if isBootstrap && parked == vcpuCount {
                    if !asked {
                        wakeAt = wakeTime()
                        asked = true
                    }
                    if let wakeAt, RealTimeClock.now().seconds >= wakeAt {
                        woke()
                        requested.store(false, ordering: .releasing)
                        monitor.broadcast()
                        break
                    }
                }
                _ = monitor.wait(until: Monitor.deadline(after: 0.01))
            }
            return true
        }
    }
}
