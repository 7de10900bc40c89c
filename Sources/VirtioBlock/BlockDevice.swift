#if canImport(Glibc)
import Glibc
#endif
import Memory
import Virtio

/// virtio-blk (virtio 1.2 §5.2) on a raw image file: 512-byte sectors, the capacity from the
/// file's size, one request queue. Requests: IN (read), OUT (write; VIRTIO_BLK_S_IOERR on a
/// read-only disk), FLUSH (fsync: when it completes, what was written is on disk) and GET_ID;
/// others get VIRTIO_BLK_S_UNSUPP. A request past the end of the disk, or of a length that is
/// not whole sectors, gets VIRTIO_BLK_S_IOERR; a chain without its 16-byte header or its status
/// byte is malformed (the transport sets NEEDS_RESET).
///
/// Data moves between the file and guest RAM with one pread or pwrite per buffer, no copy.
public final class BlockDevice: VirtioDevice {
    /// The virtio device ID of a block device.
    public let deviceID: UInt16 = 2
    /// SEG_MAX, BLK_SIZE and FLUSH, and RO for a read-only disk.
    public let features: UInt64
    /// One request queue of up to 256 entries.
    public let queueSizes = [256]
    /// The configuration structure through the discard fields (Linux reads what its features say).
    public let configSize = 0x40
    /// The PCI class code of a mass-storage controller, "other" (0x018000), as QEMU's.
    public static let classCode: UInt32 = 0x01_8000
    /// Bytes per sector.
    public static let sectorSize: UInt64 = 512

    /// VIRTIO_BLK_F_SEG_MAX: seg_max in the configuration says how many data buffers a request may have.
    public static let featureSegMax: UInt64 = 1 << 2
    /// VIRTIO_BLK_F_RO: the disk is read-only.
    public static let featureReadOnly: UInt64 = 1 << 5
    /// VIRTIO_BLK_F_BLK_SIZE: blk_size in the configuration gives the block size.
    public static let featureBlockSize: UInt64 = 1 << 6
    /// VIRTIO_BLK_F_FLUSH: the device takes FLUSH requests.
    public static let featureFlush: UInt64 = 1 << 9
    // Request types and statuses (virtio 1.2 §5.2.6).
    static let typeIn: UInt32 = 0, typeOut: UInt32 = 1, typeFlush: UInt32 = 4, typeGetID: UInt32 = 8
    static let statusOK: UInt8 = 0, statusIOError: UInt8 = 1, statusUnsupported: UInt8 = 2

    /// The open image; closed when the device goes.
    private let fd: Int32
    /// Sectors of the disk.
    public let capacity: UInt64
    /// Whether writes are refused.
    public let readOnly: Bool
    /// The serial number GET_ID answers (at most 20 bytes).
    public let serial: [UInt8]

    /// A device on the open image `fd` (which it closes), of `size` bytes.
    public init(fd: Int32, size: UInt64, readOnly: Bool, serial: String) {
        self.fd = fd
        self.readOnly = readOnly
        capacity = size / Self.sectorSize
        self.serial = Array(serial.utf8.prefix(20))
        features = Self.featureSegMax | Self.featureBlockSize | Self.featureFlush | (readOnly ? Self.featureReadOnly : 0)
    }

    deinit { close(fd) }

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        var config = [UInt8](repeating: 0, count: configSize)
        func put(_ value: UInt64, at: Int, bytes: Int) { for i in 0..<bytes { config[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) } }
        put(capacity, at: 0, bytes: 8)
        put(UInt64(queueSizes[0] - 2), at: 12, bytes: 4)  // seg_max: the ring less header and status
        put(Self.sectorSize, at: 20, bytes: 4)  // blk_size
        return (0..<size).reduce(0) { $0 | UInt64(config[offset + $1]) << (8 * UInt64($1)) }
    }

    public func serve(queue: Int, chain: DescriptorChain, memory: GuestMemory, features: UInt64) throws(VirtioError) -> UInt32 {
        guard chain.readableLength >= 16 else { throw .badRequest(queue: queue, reason: "a block request without its 16-byte header") }
        guard chain.writableLength >= 1 else { throw .badRequest(queue: queue, reason: "a block request without its status byte") }
        let header = chain.readBytes(memory, count: 16)
        let type = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        let sector = (0..<8).reduce(UInt64(0)) { $0 | UInt64(header[8 + $1]) << (8 * UInt64($1)) }
        var written: UInt64 = 0
        let status: UInt8
        switch type {
        case Self.typeIn:
            let length = chain.writableLength - 1
            status = transfer(chain.writable, skip: 0, length: length, sector: sector, write: false, memory: memory)
            if status == Self.statusOK { written = length }
        case Self.typeOut:
            status = readOnly ? Self.statusIOError
                : transfer(chain.readable, skip: 16, length: chain.readableLength - 16, sector: sector, write: true, memory: memory)
        case Self.typeFlush:
            status = readOnly || fsync(fd) == 0 ? Self.statusOK : Self.statusIOError
        case Self.typeGetID:
            let id = Array((serial + [UInt8](repeating: 0, count: 20)).prefix(Int(min(20, chain.writableLength - 1))))
            written = UInt64(chain.writeBytes(id, memory))
            status = Self.statusOK
        default:
            status = Self.statusUnsupported
        }
        chain.writeBytes([status], memory, offset: chain.writableLength - 1)
        return UInt32(truncatingIfNeeded: written + 1)
    }

    /// Moves `length` bytes between the disk at `sector` and `buffers` (from byte `skip` of their
    /// concatenation): IOERR for a length of part sectors or a range past the end of the disk,
    /// or when the host's pread or pwrite fails or comes up short.
    private func transfer(_ buffers: [GuestBuffer], skip: UInt64, length: UInt64, sector: UInt64, write: Bool,
                          memory: GuestMemory) -> UInt8 {
        guard length % Self.sectorSize == 0, sector <= capacity, length / Self.sectorSize <= capacity - sector else { return Self.statusIOError }
        var position = sector * Self.sectorSize
        var remaining = length
        var skip = skip
        for buffer in buffers where remaining > 0 {
            let bufferLength = UInt64(buffer.length)
            if skip >= bufferLength { skip -= bufferLength; continue }
            let count = min(bufferLength - skip, remaining)
            // In RAM: the chain's buffers were checked when it was read.
            let start = memory.hostBase + Int(buffer.address + skip)
            var done: UInt64 = 0
            while done < count {
                let n = write ? pwrite(fd, start + Int(done), Int(count - done), off_t(position + done))
                              : pread(fd, start + Int(done), Int(count - done), off_t(position + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return Self.statusIOError }
                done += UInt64(n)
            }
            position += count
            remaining -= count
            skip = 0
        }
        return remaining == 0 ? Self.statusOK : Self.statusIOError
    }
}
