#if canImport(Glibc)
import Glibc
#endif
import Memory
import Virtio
import VirtioBlock
import VirtioEntropy

extension FuzzTarget {
    /// The disk the virtio target's block device serves: 128 sectors in a temporary file.
    static let virtioDisk: (device: BlockDevice, path: String, size: UInt64) = {
        var template = Array("/tmp/vmm-fuzz-virtio-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let size: UInt64 = 128 * 512
        _ = ftruncate(fd, off_t(size))
        unlink(path)  // the descriptor keeps it; nothing is left behind
        return (BlockDevice(fd: fd, size: size, readOnly: false, serial: "fuzz"), path, size)
    }()

    /// A split virtqueue whose guest RAM is the input: the first byte picks the queue size (1 to
    /// 256) and the ring features (indirect tables, event index), the rest is copied to RAM from
    /// 0x1000 on. The rings lie there back to back, so a short input reaches all of them (the
    /// fuzzer's inputs are at most 4 KiB): the descriptor table at 0x1000, the driver area right
    /// after it, the device area after that (4-byte aligned), then whatever the descriptors point
    /// at. Up to 64 chains are taken and served by virtio-blk or virtio-rng (the first byte's top
    /// bit): every buffer of every chain lies in RAM, no device says it wrote more than the
    /// chain's writable bytes, and the disk never changes size.
    /// Where the virtio target's driver and device areas start for a queue of `size`: right
    /// after the descriptor table at 0x1000 (16 bytes a descriptor), and after the driver area
    /// (flags, index, a ring entry each, the used-event word) rounded up to 4 bytes.
    static func virtioRingLayout(size: Int) -> (driverArea: UInt64, deviceArea: UInt64) {
        let driverArea = UInt64(0x1000 + 16 * size)
        return (driverArea, (driverArea + UInt64(6 + 2 * size) + 3) & ~3)
    }

    static func virtioQueues(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let memory = try? GuestMemory(size: 1 << 20) else { throw FuzzFailure("cannot map 1 MiB of guest memory") }
        let control = bytes.first ?? 0
        let size = (1 << Int(control & 7)) << (control & 8 == 0 ? 0 : 1)
        var features: UInt64 = 0
        if control & 0x10 != 0 { features |= VirtioFeature.indirectDescriptors }
        if control & 0x20 != 0 { features |= VirtioFeature.eventIndex }
        _ = try? memory.write(bytes.dropFirst().prefix(Int(memory.size) - 0x1000), at: 0x1000)
        let (driverArea, deviceArea) = virtioRingLayout(size: size)
        guard var queue = try? SplitVirtqueue(index: 0, size: size, maximum: 256, descriptorTable: 0x1000, driverArea: driverArea,
                                              deviceArea: deviceArea, features: features, memory: memory) else {
            throw FuzzFailure("a queue of size \(size) at fixed, aligned addresses was refused")
        }
        let device: any VirtioDevice = control & 0x80 != 0 ? EntropyDevice() : virtioDisk.device
        for _ in 0..<64 {
            let chain: DescriptorChain
            do {
                guard let next = try queue.next() else { break }
                chain = next
            } catch {
                break
            }
            for buffer in chain.readable + chain.writable where !memory.contains(buffer.address, count: UInt64(buffer.length)) {
                throw FuzzFailure("chain \(chain.head) has a buffer outside RAM: \(buffer)")
            }
            guard let written = try? device.serve(queue: 0, chain: chain, memory: memory, features: features) else { break }
            guard UInt64(written) <= chain.writableLength else {
                throw FuzzFailure("the device wrote \(written) bytes into \(chain.writableLength) writable ones")
            }
            queue.complete(chain, written: written)
            _ = queue.needsInterrupt()
        }
        _ = queue.armNotifications()
        var info = stat()
        guard stat(virtioDisk.path, &info) != 0 || UInt64(info.st_size) == virtioDisk.size else {
            throw FuzzFailure("the disk grew to \(info.st_size) bytes")
        }
    }
}
