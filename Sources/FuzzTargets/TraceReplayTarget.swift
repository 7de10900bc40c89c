import MSIXReplay

extension FuzzTarget {
    /// The trace-replay reader and replayer over the input as a trace: nothing traps (a bad line
    /// becomes an error event), and replay is deterministic (the same trace, the same events).
    static func traceReplay(_ bytes: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = Replayer.replay(lines)
        guard Replayer.replay(lines) == first else { throw FuzzFailure("the same trace replayed differently") }
    }
}
