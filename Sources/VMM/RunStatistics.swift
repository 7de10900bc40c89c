/// What a run cost: exits handled in user space and the wall time from starting the vCPUs to the
/// end of the run.
public struct RunStatistics: Sendable, Equatable {
    /// Port I/O exits, all vCPUs together (a string instruction's exit counts once).
    public var ioExits = 0
    /// MMIO exits, all vCPUs together.
    public var mmioExits = 0
    /// Wall time of the run, in nanoseconds.
    public var nanoseconds: Int64 = 0

    /// Statistics of no run: every count 0.
    public init() {}

    /// The line `Scripts/bench-exits.sh` reads, the same format as `Scripts/bench/kvm-loop.c` prints.
    public var line: String { "exits_io=\(ioExits) exits_mmio=\(mmioExits) ns=\(nanoseconds)" }
}
