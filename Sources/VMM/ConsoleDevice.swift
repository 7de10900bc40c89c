#if canImport(Glibc)
import Glibc
#endif
import Devices
import Synchronization

/// A minimal 8250 UART: writes to THR (offset 0) are console output, LSR (offset 5) reads 0x60
/// (transmitter empty, holding register empty); everything else reads 0 and ignores writes.
///
/// Output is kept line by line in a fixed buffer, so concurrent vCPUs' lines never interleave and
/// the exit path allocates nothing; complete lines go to standard output (unless quiet) and into a
/// bounded transcript that tests and the runner read.
public final class ConsoleDevice: BusDevice {
    struct State {
        var line = [UInt8](repeating: 0, count: 256)
        var lineLength = 0
        var transcript: [UInt8] = []
    }

    private let state: Mutex<State>
    private let echo: Bool
    /// The most transcript bytes kept; later output still reaches standard output.
    public let transcriptLimit: Int

    /// - Parameters:
    ///   - echo: write complete lines to standard output.
    ///   - transcriptLimit: bytes of output kept for `transcript`.
    public init(echo: Bool, transcriptLimit: Int = 256 << 10) {
        self.echo = echo
        self.transcriptLimit = transcriptLimit
        var initial = State()
        // Reserved whole, so appending on the exit path never reallocates.
        initial.transcript.reserveCapacity(transcriptLimit)
        state = Mutex(initial)
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

    /// Emits a partial last line (called when a run ends).
    public func flush() {
        state.withLock { flush(&$0) }
    }

    /// Everything the guest printed so far (up to `transcriptLimit` bytes), as text.
    public var transcript: String {
        state.withLock { String(decoding: $0.transcript + $0.line[0..<$0.lineLength], as: UTF8.self) }
    }

    private func flush(_ s: inout State) {
        guard s.lineLength > 0 else { return }
        if echo {
            s.line.withUnsafeBytes { raw in
                var written = 0
                while written < s.lineLength {
                    let n = Glibc.write(1, raw.baseAddress! + written, s.lineLength - written)
                    if n < 0 && errno == EINTR { continue }  // the vCPU kick signal has no SA_RESTART
                    if n <= 0 { break }
                    written += n
                }
            }
        }
        let room = max(0, transcriptLimit - s.transcript.count)
        if room > 0 { s.transcript.append(contentsOf: s.line[0..<min(room, s.lineLength)]) }
        s.lineLength = 0
    }
}
