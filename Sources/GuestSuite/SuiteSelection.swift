/// Which entries of the suite a run takes, how often, and in what order: a shard of the suite
/// (for the runners of a CI matrix), each entry repeated, the whole list shuffled by a seed (for
/// stress). Every choice is deterministic: the same selection of the same manifest always gives
/// the same list.
public struct SuiteSelection: Sendable, Equatable {
    /// Shard `index` of `count` (both from 1): the entries at positions `index - 1`,
    /// `index - 1 + count`, … of the suite sorted by name. The `count` shards of a suite are
    /// disjoint and together hold every entry, whatever order the manifest lists them in.
    public struct Shard: Sendable, Equatable, CustomStringConvertible {
        /// Which shard, 1…`count`.
        public let index: Int
        /// How many shards the suite is split into, at least 1.
        public let count: Int

        /// A shard, or nil unless 1 ≤ `index` ≤ `count`.
        public init?(index: Int, count: Int) {
            guard count >= 1, (1...count).contains(index) else { return nil }
            self.index = index
            self.count = count
        }

        /// Reads "K/N" (shard K of N); nil for anything else or K outside 1…N.
        public init?(_ text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else { return nil }
            self.init(index: index, count: count)
        }

        /// "K/N".
        public var description: String { "\(index)/\(count)" }
    }

    /// The shard to run; nil runs the whole suite.
    public var shard: Shard?
    /// How many times each entry runs, at least 1. Repeats are named `NAME#2`, `NAME#3`, ….
    public var repetitions: Int
    /// Shuffles the run order with this seed; nil keeps the manifest's order (repeats of an entry
    /// follow it).
    public var seed: UInt64?

    /// A selection of the whole suite, each entry once, in manifest order unless given otherwise.
    public init(shard: Shard? = nil, repetitions: Int = 1, seed: UInt64? = nil) {
        self.shard = shard
        self.repetitions = max(1, repetitions)
        self.seed = seed
    }

    /// The entries to run, in the order to start them.
    public func apply(_ entries: [SuiteEntry]) -> [SuiteEntry] {
        var chosen = entries
        if let shard {
            let inShard = Set(entries.map(\.name).sorted().enumerated()
                .filter { $0.offset % shard.count == shard.index - 1 }.map(\.element))
            chosen = entries.filter { inShard.contains($0.name) }
        }
        var list: [SuiteEntry] = []
        for entry in chosen {
            for round in 1...repetitions {
                var copy = entry
                if round > 1 { copy.name += "#\(round)" }
                list.append(copy)
            }
        }
        if let seed, list.count > 1 {
            // Fisher–Yates with our own draws, so the order depends on the seed alone, not on
            // the standard library's shuffle (which may change between Swift releases).
            var generator = SplitMix64(seed: seed)
            for i in stride(from: list.count - 1, to: 0, by: -1) {
                list.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
        }
        return list
    }
}

/// SplitMix64 (Steele, Lea and Flood): a small, fast generator whose sequence depends only on its
/// seed, so a shuffled run can be repeated exactly.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
