import Memory

/// One guest buffer of a descriptor chain: `length` bytes at guest-physical `address`, checked to
/// lie inside RAM when the chain was read.
public struct GuestBuffer: Sendable, Equatable {
    /// Guest-physical address of the first byte.
    public let address: UInt64
    /// Bytes in the buffer.
    public let length: UInt32
}

/// A descriptor chain taken from the available ring: its head (what goes back in the used ring)
/// and its buffers, the device-readable ones first, then the device-writable ones, in chain
/// order, indirect tables followed.
public struct DescriptorChain: Sendable, Equatable {
    /// The index of the chain's first descriptor.
    public let head: UInt16
    /// Buffers the device reads (the driver's request).
    public var readable: [GuestBuffer] = []
    /// Buffers the device writes (its answer).
    public var writable: [GuestBuffer] = []

    /// Bytes in all device-readable buffers.
    public var readableLength: UInt64 { readable.reduce(0) { $0 + UInt64($1.length) } }
    /// Bytes in all device-writable buffers.
    public var writableLength: UInt64 { writable.reduce(0) { $0 + UInt64($1.length) } }

    // Descriptor flags.
    static let next: UInt16 = 1, write: UInt16 = 2, indirect: UInt16 = 4
    /// The largest indirect table followed, in descriptors (QEMU's limit too).
    public static let maxIndirect = 1024

    /// Reads the chain starting at `head` from the descriptor table at `table` (`tableSize`
    /// entries). Throws `VirtioError` for an index out of range, a loop, a buffer outside RAM, a
    /// bad indirect table (or one when `indirectAllowed` is false), or a readable buffer after
    /// a writable one.
    public static func read(head: UInt16, table: UInt64, tableSize: Int, memory: GuestMemory, queue: Int,
                            indirectAllowed: Bool) throws(VirtioError) -> DescriptorChain {
        var chain = DescriptorChain(head: head)
        var (base, size, index) = (table, tableSize, head)
        var inIndirect = false
        var visited = 0
        while true {
            guard Int(index) < size else { throw .descriptorIndexOutOfRange(queue: queue, index: index, tableSize: size) }
            visited += 1
            guard visited <= size else { throw .chainTooLong(queue: queue, head: head, limit: size) }
            // In RAM: the table's whole extent was checked when the queue (or the indirect
            // descriptor) was accepted.
            let entry = base + 16 * UInt64(index)
            let address = memory.loadLE64(entry), length = memory.loadLE32(entry + 8)
            let flags = memory.loadLE16(entry + 12), nextIndex = memory.loadLE16(entry + 14)
            if flags & indirect != 0 {
                guard indirectAllowed else {
                    throw .badIndirectTable(queue: queue, address: address, length: length, reason: "VIRTIO_F_INDIRECT_DESC was not negotiated")
                }
                guard !inIndirect else { throw .badIndirectTable(queue: queue, address: address, length: length, reason: "an indirect table inside one") }
                guard flags & next == 0 else { throw .badIndirectTable(queue: queue, address: address, length: length, reason: "NEXT is set beside INDIRECT") }
                guard length >= 16, length % 16 == 0, Int(length / 16) <= maxIndirect else {
                    throw .badIndirectTable(queue: queue, address: address, length: length, reason: "not 1…\(maxIndirect) whole descriptors")
                }
                guard memory.contains(address, count: UInt64(length)) else {
                    throw .bufferOutsideRAM(queue: queue, address: address, length: length)
                }
                (base, size, index) = (address, Int(length / 16), 0)
                inIndirect = true
                visited = 0
                continue
            }
            guard memory.contains(address, count: UInt64(length)) else { throw .bufferOutsideRAM(queue: queue, address: address, length: length) }
            let buffer = GuestBuffer(address: address, length: length)
            if flags & write != 0 {
                chain.writable.append(buffer)
            } else {
                guard chain.writable.isEmpty else { throw .readableAfterWritable(queue: queue, head: head) }
                chain.readable.append(buffer)
            }
            guard flags & next != 0 else { return chain }
            index = nextIndex
        }
    }

    /// Copies up to `count` bytes of the readable buffers, from byte `offset` of their
    /// concatenation on.
    public func readBytes(_ memory: GuestMemory, offset: UInt64 = 0, count: Int) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        var skip = offset
        for buffer in readable where result.count < count {
            let length = UInt64(buffer.length)
            if skip >= length { skip -= length; continue }
            let take = min(length - skip, UInt64(count - result.count))
            // In RAM: every buffer was checked when the chain was read.
            let start = memory.hostBase + Int(buffer.address + skip)
            result += UnsafeRawBufferPointer(start: start, count: Int(take))
            skip = 0
        }
        return result
    }

    /// Copies `bytes` into the writable buffers from byte `offset` of their concatenation on, as
    /// far as they reach; returns the bytes written.
    @discardableResult
    public func writeBytes(_ bytes: [UInt8], _ memory: GuestMemory, offset: UInt64 = 0) -> Int {
        var done = 0
        var skip = offset
        for buffer in writable where done < bytes.count {
            let length = UInt64(buffer.length)
            if skip >= length { skip -= length; continue }
            let take = Int(min(length - skip, UInt64(bytes.count - done)))
            // In RAM: checked when the chain was read.
            bytes.withUnsafeBytes { source in
                (memory.hostBase + Int(buffer.address + skip)).copyMemory(from: source.baseAddress! + done, byteCount: take)
            }
            done += take
            skip = 0
        }
        return done
    }
}
