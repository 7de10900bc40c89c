#if canImport(Glibc)
import Glibc
#endif

/// The process's file-descriptor table, grown ahead of need.
///
/// The kernel keeps descriptors in a table that doubles when a new one does not fit (64, 128,
/// 256, …). Growing it in a process that has more than one thread waits for an RCU grace period
/// (the old table may be in use elsewhere), which took 5–20 ms on these hosts: one guest write
/// that unmasked the vector whose eventfd was descriptor 256 took 20 ms where its neighbours
/// took 3 µs. A machine knows about how many descriptors its vectors may need, so it grows the
/// table once, while it is built (before its vCPU and backend threads exist, in a program that
/// has not started its own), by duplicating a descriptor to the highest number it will need and
/// closing the copy.
enum DescriptorTable {
    /// Makes room for descriptors up to `count` (clamped to the soft RLIMIT_NOFILE), using
    /// `descriptor` (any open one) to duplicate. Failure is harmless: the table grows later.
    static func reserve(_ count: Int, duplicating descriptor: Int32) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let target = min(count, Int(clamping: limit.rlim_cur), 1 << 16) - 1
        guard target >= 64 else { return }  // the table starts with 64 slots
        let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, Int32(target))
        if copy >= 0 { close(copy) }
    }
}
