import Foundation
import Testing
import VMM

/// File descriptors this process holds now.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// A machine gives back everything it opened when it goes away: a runner that boots hundreds of
/// guests in one process must not run out of file descriptors.
@Suite(.enabled(if: kvmAvailable), .serialized) struct ResourceTests {
    @Test func machinesCloseTheirDescriptorsWhenTheyGoAway() throws {
        var configuration = quietConfiguration()
        configuration.msixVectors = 256
        configuration.testDevices = 2
        _ = try Machine.runGuest(at: guest("hello"), configuration: configuration, timeout: 10)  // warm up
        let before = openDescriptorCount()
        for _ in 0..<3 {
            let (_, outcome) = try Machine.runGuest(at: guest("hello"), configuration: configuration, timeout: 10)
            #expect(outcome == .guestExit(value: 0))
        }
        do { _ = try Machine(configuration) }  // built, never run
        #expect(openDescriptorCount() <= before, "descriptors left open: \(openDescriptorCount() - before)")
    }
}
