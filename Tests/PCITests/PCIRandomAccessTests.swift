import Devices
import PCI
import Testing
import TestSupport

/// Drives thousands of random config and BAR accesses, as a hostile guest would, and checks that
/// nothing traps and that read-only bytes never change.
@Suite struct PCIRandomAccessTests {
    @Test(arguments: testSeeds([1, 2, 3, 0xC0FFEE]))
    func randomAccessesNeverTrapAndReadOnlyBytesStay(seed: UInt64) throws {
        let bed = PCITestBed()
        _ = try bed.attachTestDevice()
        let readOnly: [(Int, Int, UInt32)] = [
            (0x00, 4, 0x0001_5357), (0x08, 4, 0xFF00_0000), (0x2C, 4, 0), (0x34, 1, 0), (0x0E, 1, 0),
        ]
        var rng = SplitMix64(seed: seed)
        let sizes = [1, 2, 4, 8]
        for _ in 0..<20_000 {
            let size = sizes.randomElement(using: &rng)!
            let value = UInt64.random(in: 0...UInt64.max, using: &rng)
            let write = Bool.random(using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0:  // CF8/CFC at any port of the block, any size
                if Bool.random(using: &rng) {
                    bed.portBus.write(0xCF8, size: 4, value: 0x8000_0000 | UInt64(Int.random(in: 0..<0x10000, using: &rng) & 0x1FFFC))
                }
                let port = UInt64(0xCF8 + Int.random(in: 0..<8, using: &rng))
                if write { bed.portBus.write(port, size: size, value: value) } else { _ = bed.portBus.read(port, size: size) }
            case 1:  // ECAM at any offset and alignment
                let address = PCITestBed.ecamBase + UInt64(Int.random(in: 0..<0x10_0000, using: &rng))
                if write { bed.mmioBus.write(address, size: size, value: value) } else { _ = bed.mmioBus.read(address, size: size) }
            case 2:  // the device's own config space, focused on the header
                let offset = Int.random(in: 0..<0x40, using: &rng)
                if write && offset & 3 + min(size, 4) <= 4 {
                    bed.cf8Write(device: 3, offset: offset, size: min(size, 4), value: UInt32(truncatingIfNeeded: value))
                }
            default:  // wherever the BARs are now
                let address = 0xC000_0000 + UInt64(Int.random(in: 0..<0x2000_0000, using: &rng))
                if write { bed.mmioBus.write(address, size: size, value: value) } else { _ = bed.mmioBus.read(address, size: size) }
            }
        }
        for (offset, size, expected) in readOnly {
            #expect(bed.cf8Read(device: 3, offset: offset, size: size) == expected, "offset \(offset), \(replayHint(seed))")
            #expect(bed.ecamRead(device: 3, offset: offset, size: size) == expected, "offset \(offset), \(replayHint(seed))")
        }
        #expect(bed.cf8Read(device: 0, offset: 0, size: 4) == 0x29C0_8086, "host bridge identity, \(replayHint(seed))")
    }
}
