import MSIXReplay

extension FuzzTarget {
    /// The trace-replay reader, replayer and writer over the input as a trace: nothing traps (a
    /// bad line becomes an error event), replay is deterministic (the same trace, the same
    /// events), and the first error event's line reads back through the trace reader with its
    /// message unchanged (the writer's escaping and the reader's agree on any text a trace puts
    /// there).
    static func traceReplay(_ bytes: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = Replayer.events(lines)
        guard Replayer.events(lines) == first else { throw FuzzFailure("the same trace replayed differently") }
        // Every event is written; the first error's line is read back (reading them all took a
        // fifth more time, and the fuzzer steers whatever text it likes into the first).
        let written = first.map(\.description)
        if let index = first.firstIndex(where: { if case .error = $0 { true } else { false } }),
           case let .error(_, message) = first[index] {
            guard let fields = try? parseFlatJSONObject(written[index]), fields["message"] == .string(message) else {
                throw FuzzFailure("the error line \(written[index]) does not read back with its message")
            }
        }
    }
}
