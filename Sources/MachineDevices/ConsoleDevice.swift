import Devices
import Threads

/// A minimal 8250 UART: writes to THR (offset 0) are console output, LSR (offset 5) reads 0x60
/// (transmitter empty, holding register empty); everything else reads 0 and ignores writes.
///
/// Output is kept line by line in a fixed buffer, so concurrent vCPUs' lines never interleave and
/// the exit path allocates nothing. Complete lines go into a bounded transcript that tests and the
/// runner read, and (unless quiet) to standard output through a `ConsoleOutput` ring drained by a
/// writer thread: a slow reader of standard output never blocks a vCPU until the ring (1 MiB) is
/// full, and then the vCPU waits for room rather than lose output.
public final class ConsoleDevice: BusDevice {
    struct State {
        var line = [UInt8](repeating: 0, count: 256)
        var lineLength = 0
        var transcript: [UInt8] = []
    }

    private let state: Locked<State>
    private let output: ConsoleOutput?
    /// The most transcript bytes kept; later output still reaches standard output.
    public let transcriptLimit: Int

    /// - Parameters:
    ///   - echo: write complete lines to standard output.
    ///   - transcriptLimit: bytes of output kept for `transcript`.
    public convenience init(echo: Bool, transcriptLimit: Int = 256 << 10) {
        self.init(output: echo ? ConsoleOutput() : nil, transcriptLimit: transcriptLimit)
    }

    init(output: ConsoleOutput?, transcriptLimit: Int = 256 << 10) {
        self.output = output
        self.transcriptLimit = transcriptLimit
        var initial = State()
        // Reserved whole, so appending on the exit path never reallocates.
        initial.transcript.reserveCapacity(transcriptLimit)
        state = Locked(initial)
    }

    deinit {
        output?.stop()
    }

    public func read(offset: UInt64, size: Int) -> UInt64 {
        offset == 5 ? 0x60 : 0
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset == 0 else { return }
        let byte = UInt8(truncatingIfNeeded: value)
        state.withLock { s in
            s.line[s.lineLength] = byte
            s.lineLength += 1
            if byte == 0x0A || s.lineLength == s.line.count { flush(&s) }
        }
    }

    /// Emits a partial last line and waits until standard output has everything (called when a
    /// run ends).
    public func flush() {
        state.withLock { flush(&$0) }
        output?.drain()
    }

    /// Everything the guest printed so far (up to `transcriptLimit` bytes), as text.
    public var transcript: String {
        state.withLock { String(decoding: $0.transcript + $0.line[0..<$0.lineLength], as: UTF8.self) }
    }

    /// Output bytes that could not reach standard output (it was closed, or its reader went away).
    public var lostOutputBytes: Int { output?.lostBytes ?? 0 }

    private func flush(_ s: inout State) {
        guard s.lineLength > 0 else { return }
        let length = s.lineLength
        if let output { s.line.withUnsafeBytes { output.append(UnsafeRawBufferPointer(rebasing: $0[0..<length])) } }
        let room = max(0, transcriptLimit - s.transcript.count)
        if room > 0 { s.transcript.append(contentsOf: s.line[0..<min(room, length)]) }
        s.lineLength = 0
    }
}
