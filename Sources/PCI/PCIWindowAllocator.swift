/// Hands out naturally aligned BAR addresses from the MMIO and I/O windows, lowest free first,
/// and takes them back when a function is detached (or its attach is rolled back).
///
/// All arithmetic is overflow-checked: a window must not run past the top of its space, and a
/// BAR that does not fit is refused rather than wrapped.
struct PCIWindowAllocator {
    /// One window and the ranges taken from it, sorted by base.
    struct Window {
        let name: String
        let base: UInt64
        let size: UInt64
        var taken: [(base: UInt64, size: UInt64)] = []

        /// The lowest `size`-aligned address in a gap of the window that holds `size` bytes.
        func firstFit(_ size: UInt64) -> UInt64? {
            var candidate = base
            for range in taken + [(base: base &+ self.size, size: 0)] {
                let (rounded, overflow) = candidate.addingReportingOverflow(size - 1)
                guard !overflow else { return nil }
                let aligned = rounded & ~(size - 1)
                let (end, endOverflow) = aligned.addingReportingOverflow(size)
                if !endOverflow, end <= range.base { return aligned }
                candidate = max(candidate, range.base + range.size)
            }
            return nil
        }
    }

    private(set) var mmio: Window
    private(set) var io: Window

    /// Refuses an empty window or one that runs past the end of its space (4 GiB for 32-bit
    /// memory BARs, 64 Ki ports for I/O).
    init(mmio: (base: UInt64, size: UInt64), io: (base: UInt64, size: UInt64)) throws(PCIError) {
        for (name, window, end) in [("MMIO", mmio, UInt64(1) << 32), ("I/O", io, UInt64(1) << 16)] {
            guard window.size > 0, window.size <= end, window.base <= end - window.size else {
                throw .badWindow(name: name, base: window.base, size: window.size)
            }
        }
        self.mmio = Window(name: "MMIO", base: mmio.base, size: mmio.size)
        self.io = Window(name: "I/O", base: io.base, size: io.size)
    }

    /// Takes room for `bar` from its window.
    mutating func allocate(_ bar: PCIBarDefinition) throws(PCIError) -> UInt64 {
        let isIO = bar.kind == .io
        var window = isIO ? io : mmio
        guard let address = window.firstFit(bar.size) else { throw .windowExhausted(size: bar.size, window: window.name) }
        let index = window.taken.firstIndex { $0.base > address } ?? window.taken.count
        window.taken.insert((address, bar.size), at: index)
        if isIO { io = window } else { mmio = window }
        return address
    }

    /// Gives back the room taken for a BAR of `kind` at `address`.
    mutating func free(_ kind: PCIBarDefinition.Kind, at address: UInt64) {
        if kind == .io { io.taken.removeAll { $0.base == address } } else { mmio.taken.removeAll { $0.base == address } }
    }
}
