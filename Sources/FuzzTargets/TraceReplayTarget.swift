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
        func replay() -> [ReplayEvent] {
            var replayer = Replayer()
            var events: [ReplayEvent] = []
            for (index, line) in lines.enumerated() { events += replayer.events(line: line, number: index + 1) }
            return events
        }
        let first = replay()
        guard replay() == first else { throw FuzzFailure("the same trace replayed differently") }
        // Every event is written; the first error's line is read back (reading them all took a
        // fifth more time, and the fuzzer steers whatever text it likes into the first).
        var checked = false
        for event in first {
            let line = event.description
            guard !checked, case let .error(_, message) = event else { continue }
            checked = true
            guard let fields = try? parseFlatJSONObject(line), fields["message"] == .string(message) else {
                throw FuzzFailure("the error line \(line) does not read back with its message")
            }
        }
    }
}
