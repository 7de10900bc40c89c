import Testing
import TestSupport
import GuestSuite

/// Shards, repeats and seeded order of `vmm test`: deterministic, disjoint, complete.
@Suite struct SuiteSelectionTests {
    func entries(_ names: [String]) -> [SuiteEntry] { names.map { SuiteEntry(name: $0, path: "/g/\($0).elf") } }

    /// A manifest of random names in random order: for every N, the N shards are disjoint, hold
    /// every entry together, differ in size by at most one, and do not depend on manifest order.
    @Test(arguments: testSeeds([1, 2, 3, 0x5A4D]))
    func shardsAreDisjointAndCoverTheSuiteWhateverTheManifestOrder(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let names = Set((0..<Int.random(in: 1...40, using: &random)).map { _ in "g\(random.next() % 10_000)" })
        let manifest = entries(names.shuffled(using: &random))
        let reordered = entries(names.shuffled(using: &random))
        for count in 1...(manifest.count + 2) {
            var seen: [String] = []
            var sizes: [Int] = []
            for index in 1...count {
                let shard = try #require(SuiteSelection.Shard(index: index, count: count))
                let chosen = SuiteSelection(shard: shard).apply(manifest).map(\.name)
                #expect(Set(chosen) == Set(SuiteSelection(shard: shard).apply(reordered).map(\.name)),
                        "shard \(shard) depends on manifest order; \(replayHint(seed))")
                seen += chosen
                sizes.append(chosen.count)
            }
            #expect(seen.count == Set(seen).count, "shards of \(count) overlap; \(replayHint(seed))")
            #expect(Set(seen) == names, "shards of \(count) miss entries; \(replayHint(seed))")
            #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1, "shard sizes \(sizes); \(replayHint(seed))")
        }
    }

    @Test func shardTextIsKOverNWithKInOneToN() {
        #expect(SuiteSelection.Shard("2/4") == SuiteSelection.Shard(index: 2, count: 4))
        #expect(SuiteSelection.Shard("2/4")?.description == "2/4")
        for bad in ["0/4", "5/4", "1/0", "-1/2", "1/", "/2", "1/2/3", "a/b", "", "1", " 1/2"] {
            #expect(SuiteSelection.Shard(bad) == nil, "\(bad)")
        }
    }

    /// Repeats keep their entry's path and are named NAME#2…; a seed gives a permutation that
    /// is the same every time for that seed, and the manifest order without one.
    @Test(arguments: testSeeds([1, 7, 0xC0FFEE]))
    func repeatsAreNamedAndASeedGivesTheSamePermutationEachTime(seed: UInt64) {
        let manifest = entries(["a", "b", "c", "d", "e", "f"])
        let repeated = SuiteSelection(repetitions: 3).apply(manifest)
        #expect(repeated.map(\.name).prefix(4) == ["a", "a#2", "a#3", "b"])
        #expect(repeated.count == 18 && repeated.allSatisfy { $0.path == "/g/\($0.name.split(separator: "#")[0]).elf" })
        let shuffled = SuiteSelection(repetitions: 3, seed: seed).apply(manifest)
        #expect(shuffled.map(\.name) == SuiteSelection(repetitions: 3, seed: seed).apply(manifest).map(\.name), "\(replayHint(seed))")
        #expect(shuffled.map(\.name).sorted() == repeated.map(\.name).sorted(), "\(replayHint(seed))")
        #expect(shuffled.map(\.name) != repeated.map(\.name), "18 entries kept their order; \(replayHint(seed))")
        #expect(SuiteSelection().apply(manifest) == manifest)
    }

    /// The order for a seed is pinned: a change of the generator or the shuffle would change what
    /// `--seed S` means for a run someone is repeating.
    @Test func theOrderForASeedDoesNotChangeBetweenReleases() {
        let order = SuiteSelection(seed: 42).apply(entries(["a", "b", "c", "d", "e"])).map(\.name)
        #expect(order == SuiteSelection(seed: 42).apply(entries(["a", "b", "c", "d", "e"])).map(\.name))
        #expect(order == Self.pinnedOrderForSeed42, "\(order)")
    }

    /// Worked out apart from the code (SplitMix64 from seed 42, Fisher–Yates from the end, each
    /// swap index the draw modulo i + 1), in Python.
    static let pinnedOrderForSeed42 = ["b", "c", "a", "e", "d"]
}
