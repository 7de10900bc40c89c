#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Testing
@testable import MachineDevices

/// The console's output path: a slow reader never stalls the printing vCPU while the ring has
/// room, and nothing is lost or reordered when it fills.
@Suite struct ConsoleOutputTests {
    /// A pipe; `read` drains it to the end after the write side is closed.
    final class Pipe: @unchecked Sendable {
        private var fds: [Int32] = [-1, -1]
        init() { _ = pipe(&fds) }
        var readEnd: Int32 { fds[0] }
        var writeEnd: Int32 { fds[1] }
        /// Each end is closed once: tests run in parallel, and a second close of a number could
        /// close another test's descriptor that reused it.
        func closeRead() { if fds[0] >= 0 { close(fds[0]); fds[0] = -1 } }
        func closeWrite() { if fds[1] >= 0 { close(fds[1]); fds[1] = -1 } }
        func readAll(delayPerChunk: UInt32 = 0) -> [UInt8] {
            var all: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                if delayPerChunk > 0 { usleep(delayPerChunk) }
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fds[0], $0.baseAddress, 4096) }
                if n <= 0 { break }
                all += chunk[0..<n]
            }
            return all
        }
        deinit { closeRead(); closeWrite() }
    }

    func lines(_ count: Int) -> [UInt8] {
        (0..<count).flatMap { Array("line \($0) of the guest's output\n".utf8) }
    }

    @Test func aReaderThatDoesNotReadDoesNotStallTheGuestWhileTheRingHasRoom() {
        let pipe = Pipe()
        let console = ConsoleDevice(output: ConsoleOutput(fd: pipe.writeEnd, capacity: 1 << 20))
        let text = lines(8000)  // ~250 KB: about four times what a pipe holds
        #expect(text.count > 3 * 65536)
        // The guest prints on a thread of its own; nobody reads the pipe meanwhile. With a
        // blocking write on the printing thread it could not finish.
        let printer = DispatchGroup()
        DispatchQueue.global().async(group: printer) {
            for byte in text { console.write(offset: 0, size: 1, value: UInt64(byte)) }
        }
        #expect(printer.wait(timeout: .now() + 20) == .success, "printing finished with the reader asleep")
        let reader = Thread { pipe.readAll() }
        printer.wait()
        console.flush()
        pipe.closeWrite()
        #expect(reader.join() == text, "every byte, in order")
        #expect(console.lostOutputBytes == 0)
    }

    @Test func aFullRingMakesTheWriterWaitAndLosesNothing() {
        let pipe = Pipe()
        let console = ConsoleDevice(output: ConsoleOutput(fd: pipe.writeEnd, capacity: 16))
        let reader = Thread { pipe.readAll(delayPerChunk: 200) }
        let text = lines(2000)
        for byte in text { console.write(offset: 0, size: 1, value: UInt64(byte)) }
        console.flush()
        pipe.closeWrite()
        #expect(reader.join() == text, "every byte, in order")
        #expect(console.transcript.utf8.count == text.count)
    }

    @Test func outputToAClosedDescriptorIsCountedAsLostAndDoesNotBlock() {
        let pipe = Pipe()
        pipe.closeRead()
        signal(SIGPIPE, SIG_IGN)
        let console = ConsoleDevice(output: ConsoleOutput(fd: pipe.writeEnd, capacity: 64))
        let text = lines(10)
        for byte in text { console.write(offset: 0, size: 1, value: UInt64(byte)) }
        console.flush()
        #expect(console.lostOutputBytes == text.count)
        #expect(console.transcript.utf8.count == text.count, "the transcript keeps it all the same")
        pipe.closeWrite()
    }
}

/// A value computed on another thread (the reader side of a pipe); `join` waits for it.
final class Thread<T: Sendable>: @unchecked Sendable {
    private let group = DispatchGroup()
    private var value: T?
    init(_ body: @escaping @Sendable () -> T) {
        DispatchQueue.global().async(group: group) { self.value = body() }
    }
    func join() -> T {
        group.wait()
        return value!
    }
}
