import MSIXReplay

/// The trace-replay reader and replayer over the input as a trace. Invariants: nothing traps
/// (a bad line becomes an error event), and replay is deterministic: the same trace gives the
/// same events twice.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceReplay(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let first = Replayer.replay(lines)
    guard Replayer.replay(lines) == first else { fatalError("the same trace replayed differently") }
    return 0
}
