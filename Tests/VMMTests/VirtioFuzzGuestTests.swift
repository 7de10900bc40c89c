import Foundation
import Testing
import TestSupport
import VMM

/// The virtio-fuzz guest (Guests/virtio-fuzz) drives our virtio-blk device as a hostile driver
/// would, with random features, queue setups, descriptors, lengths, indices and notifications,
/// for each seed: the VMM survives, the device still reads a sector correctly afterwards, and the
/// disk past the sectors that requests could reach (0…4095) is unchanged. Each seed prints how
/// many sectors its well-formed writes changed.
@Suite(.enabled(if: kvmAvailable)) struct VirtioFuzzGuestTests {
    @Test(arguments: testSeeds([1, 2, 3, 0xF022]))
    func aHostileDriverLeavesTheVMMAndTheRestOfTheDiskIntact(seed: UInt64) throws {
        let path = NSTemporaryDirectory() + "vmm-virtio-fuzz-\(UUID().uuidString).img"
        let original = (0..<(8192 * 512)).map { UInt8(truncatingIfNeeded: $0 * 31 + $0 / 512) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(original)), "the test file could not be made")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = quietConfiguration()
        configuration.testDevices = 0
        configuration.devices = [VirtioComponent.disk(path: path, readOnly: false)]
        configuration.layout.commandLine = "seed=\(seed) rounds=100"
        let (machine, outcome) = try Machine.runGuest(at: guest("virtio-fuzz"), configuration: configuration, timeout: 120)
        #expect(outcome == .guestExit(value: 0), "\(replayHint(seed)):\n\(machine.console.transcript)")
        #expect(machine.console.transcript.contains("the device survived 100 rounds"), "\(replayHint(seed))")
        let after = Array((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
        #expect(after.count == original.count, "\(replayHint(seed))")
        #expect(after.count == original.count && after[(4096 * 512)...] == original[(4096 * 512)...],
                "the disk past sector 4095 changed: \(replayHint(seed))")
        let changed = Set(zip(after, original).enumerated().filter { $0.element.0 != $0.element.1 }.map { $0.offset / 512 })
        print("virtio-fuzz: seed \(seed): \(changed.count) sectors written, all in \(changed.min() ?? 0)…\(changed.max() ?? 0)")
    }
}
