import Foundation
import Memory
import Testing
import TestSupport
@testable import Virtio
@testable import VirtioBlock
@testable import VirtioEntropy

/// A disk image in a temporary file, `sectors` sectors of a pattern; removed when the test ends.
final class DiskFile {
    let path = NSTemporaryDirectory() + "vmm-virtio-disk-\(UUID().uuidString)"
    let original: [UInt8]
    init(sectors: Int) {
        original = (0..<(sectors * 512)).map { UInt8(truncatingIfNeeded: $0 * 31 + $0 / 512) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(original)), "the test file could not be made")
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var contents: [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()) }
    func device(readOnly: Bool = false) -> BlockDevice {
        BlockDevice(fd: open(path, readOnly ? O_RDONLY : O_RDWR), size: UInt64(original.count), readOnly: readOnly, serial: "disk-serial")
    }
}

/// A block request as a chain: the header at 0x10000, data buffers from 0x20000, the status byte
/// at 0x30000.
func blockRequest(_ memory: GuestMemory, type: UInt32, sector: UInt64, data: [UInt32], writable: Bool) throws -> DescriptorChain {
    try memory.store(type, at: 0x10000)
    try memory.store(UInt32(0), at: 0x10004)
    try memory.store(sector, at: 0x10008)
    var chain = DescriptorChain(head: 0, readable: [GuestBuffer(address: 0x10000, length: 16)])
    var at: UInt64 = 0x20000
    for length in data {
        let buffer = GuestBuffer(address: at, length: length)
        if writable { chain.writable.append(buffer) } else { chain.readable.append(buffer) }
        at += UInt64(length)
    }
    chain.writable.append(GuestBuffer(address: 0x30000, length: 1))
    return chain
}

@Suite struct BlockDeviceTests {
    @Test func readsWritesFlushesAndNamesItself() throws {
        let disk = DiskFile(sectors: 16)
        let device = disk.device()
        let memory = try GuestMemory(size: 1 << 20)
        #expect(device.readConfig(offset: 0, size: 8) == 16, "capacity in sectors")
        #expect(device.readConfig(offset: 20, size: 4) == 512, "blk_size")

        // Read sectors 2–4 into two buffers (1 and 2 sectors).
        var written = try device.serve(queue: 0, chain: blockRequest(memory, type: 0, sector: 2, data: [512, 1024], writable: true), memory: memory, features: 0)
        #expect(try written == 1537 && memory.load(UInt8.self, at: 0x30000) == 0)
        #expect(try memory.read(at: 0x20000, count: 1536) == Array(disk.original[1024..<2560]))

        // Write one sector at 7.
        try memory.write([UInt8](repeating: 0xAB, count: 512), at: 0x20000)
        written = try device.serve(queue: 0, chain: blockRequest(memory, type: 1, sector: 7, data: [512], writable: false), memory: memory, features: 0)
        #expect(try written == 1 && memory.load(UInt8.self, at: 0x30000) == 0)
        _ = try device.serve(queue: 0, chain: blockRequest(memory, type: 4, sector: 0, data: [], writable: false), memory: memory, features: 0)
        #expect(try memory.load(UInt8.self, at: 0x30000) == 0, "flush")
        var expected = disk.original
        expected.replaceSubrange(3584..<4096, with: [UInt8](repeating: 0xAB, count: 512))
        #expect(disk.contents == expected)

        written = try device.serve(queue: 0, chain: blockRequest(memory, type: 8, sector: 0, data: [20], writable: true), memory: memory, features: 0)
        #expect(try written == 21 && String(decoding: memory.read(at: 0x20000, count: 11), as: UTF8.self) == "disk-serial")
    }

    @Test func badRequestsGetTheirStatusAndLeaveTheDiskAlone() throws {
        let disk = DiskFile(sectors: 8)
        let memory = try GuestMemory(size: 1 << 20)
        func status(_ device: BlockDevice, type: UInt32, sector: UInt64, data: [UInt32], writable: Bool) throws -> UInt8 {
            _ = try device.serve(queue: 0, chain: blockRequest(memory, type: type, sector: sector, data: data, writable: writable), memory: memory, features: 0)
            return try memory.load(UInt8.self, at: 0x30000)
        }
        let device = disk.device()
        #expect(try status(device, type: 1, sector: 7, data: [1024], writable: false) == 1, "past the end")
        #expect(try status(device, type: 0, sector: UInt64.max, data: [512], writable: true) == 1, "a sector number that overflows")
        #expect(try status(device, type: 1, sector: 0, data: [100], writable: false) == 1, "part of a sector")
        #expect(try status(device, type: 99, sector: 0, data: [], writable: false) == 2, "unsupported")
        #expect(try status(disk.device(readOnly: true), type: 1, sector: 0, data: [512], writable: false) == 1, "a read-only disk")
        #expect(disk.contents == disk.original)
        #expect(throws: VirtioError.self) {
            try device.serve(queue: 0, chain: DescriptorChain(head: 0, readable: [GuestBuffer(address: 0x10000, length: 8)]), memory: memory, features: 0)
        }
        #expect(disk.device(readOnly: true).features & BlockDevice.featureReadOnly != 0)
    }

    /// Random request chains (types, sectors, buffer layouts): the device answers each or
    /// throws, and never writes outside the requested sectors: with only reads and writes below
    /// sector 8 allowed to land, the rest of the image is unchanged. Seeds: `VMM_TEST_SEED`.
    @Test(arguments: testSeeds([1, 2, 0xB10C, 0x5EED_B10C]))
    func randomRequestsNeverWriteOutsideTheirRange(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let disk = DiskFile(sectors: 64)
        let device = disk.device()
        let memory = try GuestMemory(size: 1 << 20)
        for _ in 0..<400 {
            let type = [0, 1, 4, 8, UInt32(truncatingIfNeeded: rng.next())][Int(rng.next() % 5)]
            let sector = rng.next() % 3 == 0 ? rng.next() : rng.next() % 8
            let data = (0..<(rng.next() % 4)).map { _ in UInt32(rng.next() % 3 == 0 ? rng.next() % 2000 : 512 * (1 + rng.next() % 2)) }
            // Writes aimed at sectors 8 and up are sent as reads, so the rest of the image must not change.
            let writing = type == 1 && sector + UInt64(data.reduce(0, +)) / 512 <= 8
            let chain = try blockRequest(memory, type: writing || type != 1 ? type : 0, sector: sector, data: data, writable: !(writing))
            _ = try? device.serve(queue: 0, chain: chain, memory: memory, features: 0)
        }
        #expect(Array(disk.contents[(8 * 512)...]) == Array(disk.original[(8 * 512)...]), "\(replayHint(seed))")
        #expect(disk.contents.count == disk.original.count, "\(replayHint(seed))")
    }
}

@Suite struct EntropyDeviceTests {
    @Test func everyWritableByteIsFilledAndCounted() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let chain = DescriptorChain(head: 0, writable: [GuestBuffer(address: 0x1000, length: 64), GuestBuffer(address: 0x2000, length: 4096)])
        let written = try EntropyDevice().serve(queue: 0, chain: chain, memory: memory, features: 0)
        #expect(written == 4160)
        #expect(try memory.read(at: 0x2000, count: 4096).contains { $0 != 0 }, "random bytes, not zeros")
        #expect(try EntropyDevice().serve(queue: 0, chain: DescriptorChain(head: 1), memory: memory, features: 0) == 0)
    }
}
