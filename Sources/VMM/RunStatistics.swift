/// What a run cost: exits handled in user space and the wall time from starting the vCPUs to the
/// end of the run.
public struct RunStatistics: Sendable, Equatable {
    public var ioExits = 0
    public var mmioExits = 0
    public var nanoseconds: Int64 = 0

    public init() {}

    /// The line `Scripts/bench-exits.sh` reads, the same format as `Scripts/bench/kvm-loop.c` prints.
    public var line: String { "exits_io=\(ioExits) exits_mmio=\(mmioExits) ns=\(nanoseconds)" }
}
