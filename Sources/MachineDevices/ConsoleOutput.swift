#if canImport(Glibc)
import Glibc
#endif
import Threads

/// The console's way to standard output: a fixed ring of bytes that a writer thread of its own
/// drains to a file descriptor, so a slow reader of that descriptor (a pipe, a terminal) never
/// holds up a vCPU that prints.
///
/// Policy when the ring is full: the printing vCPU waits until the writer has made room. Nothing
/// is dropped and the order of bytes is kept; a guest stalls only when it prints more than
/// `capacity` bytes faster than the reader takes them. Bytes that cannot be written at all (the
/// descriptor is closed, or the reader went away: EPIPE) are counted in `lostBytes`.
///
/// The writer thread starts with the first byte and ends in `stop()`.
final class ConsoleOutput: Sendable {
    private let monitor = Monitor()
    private let fd: Int32
    /// Bytes the ring holds.
    let capacity: Int
    /// The ring, allocated once; its bytes are touched only with `monitor` held, or by the writer
    /// thread in the queued range that no one else may change until the writer releases it.
    private nonisolated(unsafe) let ring: UnsafeMutableRawBufferPointer
    // Everything below is read and written only with `monitor` held.
    /// Index of the oldest byte not yet written, and how many bytes are queued from there.
    private nonisolated(unsafe) var head = 0
    private nonisolated(unsafe) var count = 0
    private nonisolated(unsafe) var stopping = false
    private nonisolated(unsafe) var thread: OSThread?
    private nonisolated(unsafe) var lost = 0

    /// - Parameters:
    ///   - fd: where the bytes go (standard output: 1). Not closed by this object.
    ///   - capacity: bytes of the ring (at least 1).
    init(fd: Int32 = 1, capacity: Int = 1 << 20) {
        self.fd = fd
        self.capacity = max(1, capacity)
        ring = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit {
        ring.deallocate()
    }

    /// Queues `bytes` in order, waiting for room while the ring is full. Allocates nothing once
    /// the writer thread runs.
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        monitor.withLock {
            if thread == nil && !stopping { startWriter() }
            var done = 0
            while done < bytes.count {
                while count == capacity { monitor.wait() }
                if stopping && thread == nil {
                    // No writer any more (stopped, or it could not start): nothing can take them.
                    lost += bytes.count - done
                    return
                }
                // Copy into the free space after the queued bytes, up to the end of the ring.
                let tail = (head + count) % capacity
                let room = min(capacity - count, capacity - tail, bytes.count - done)
                // In bounds: tail + room <= capacity and done + room <= bytes.count.
                (ring.baseAddress! + tail).copyMemory(from: bytes.baseAddress! + done, byteCount: room)
                count += room
                done += room
                monitor.broadcast()
            }
        }
    }

    /// Waits until every queued byte has been written (or counted as lost).
    func drain() {
        monitor.withLock {
            while count > 0 && thread != nil { monitor.wait() }
        }
    }

    /// Writes what is queued, then ends the writer thread. Later `append`s count as lost.
    func stop() {
        let writer: OSThread? = monitor.withLock {
            stopping = true
            monitor.broadcast()
            return thread
        }
        writer?.join()
        monitor.withLock {
            thread = nil
            lost += count
            count = 0
            monitor.broadcast()
        }
    }

    /// Bytes that could not be written (closed descriptor, reader gone, no writer thread).
    var lostBytes: Int { monitor.withLock { lost } }

    /// Called with `monitor` held.
    private func startWriter() {
        do {
            thread = try OSThread(name: "console writer") { [self] in writeLoop() }
        } catch {
            // Without a thread the bytes cannot go anywhere; say so once and count them as lost.
            stopping = true
            let text = "vmm: console output lost: \(error)\n"
            _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
        }
    }

    private func writeLoop() {
        while true {
            // Take the oldest contiguous run of queued bytes; they stay queued (and their room
            // taken) until written, so nothing overwrites them meanwhile.
            let (start, length): (Int, Int) = monitor.withLock {
                while count == 0 && !stopping { monitor.wait() }
                return (head, min(count, capacity - head))
            }
            if length == 0 { return }  // stopping, and everything is written
            let written = writeAll(ring.baseAddress! + start, length)
            monitor.withLock {
                lost += length - written
                head = (head + length) % capacity
                count -= length
                monitor.broadcast()
            }
        }
    }

    /// Writes `length` bytes, retrying after signals and partial writes; returns how many were
    /// written before an error that retrying cannot cure.
    private func writeAll(_ pointer: UnsafeRawPointer, _ length: Int) -> Int {
        var written = 0
        while written < length {
            let n = Glibc.write(fd, pointer + written, length - written)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            written += n
        }
        return written
    }
}
