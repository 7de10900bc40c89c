import Foundation
@testable import FuzzTargets
import MSIX
import Testing
import TestSupport

/// The fuzz targets in `swift test`: every committed seed (`Fuzz/Corpus/<target>/`), every
/// input a fuzzer ever failed on (`Fuzz/Regressions/<target>/`, kept after the fix) and every
/// input a long run kept (`Fuzz/LongRuns/<target>/corpus/`) replayed, and a seeded burst of
/// random inputs per target, so a regression shows without libFuzzer.
@Suite struct FuzzRegressionTests {
    static func inputs(_ folder: String, _ target: String) -> [(String, [UInt8])] {
        let directory = URL(fileURLWithPath: projectRoot).appendingPathComponent("Fuzz/\(folder)/\(target)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().compactMap { name in
            (try? Data(contentsOf: directory.appendingPathComponent(name))).map { ("\(folder)/\(target)/\(name)", Array($0)) }
        }
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func committedInputsPass(target: String) throws {
        let run = try #require(FuzzTarget.named(target)).run
        let inputs = Self.inputs("Corpus", target) + Self.inputs("Regressions", target)
            + Self.inputs("LongRuns", "\(target)/corpus")
        #expect(!inputs.isEmpty, "\(target) has no committed seeds")
        for (name, bytes) in inputs {
            do { try run(bytes) } catch { Issue.record("\(name): \(error)") }
        }
    }

    /// `fuzz.sh --keep` keeps only what a long run found: no copy of a committed seed or of a
    /// built guest (a build output), each under libFuzzer's name for it (its SHA-1).
    @Test(arguments: FuzzTarget.all.map(\.name))
    func keptInputsAreNotSeedsOrBuiltGuests(target: String) throws {
        let seeds = Self.inputs("Corpus", target).map(\.1)
        // The built guests fuzz.sh adds to the loaders' seeds (its built_seeds).
        let guests = try ["multiboot.elf", "multiboot-aout.bin", "pvh.elf", "hello.elf"].map {
            try Array(Data(contentsOf: URL(fileURLWithPath: guestDirectory + "/" + $0)))
        }
        for (name, bytes) in Self.inputs("LongRuns", "\(target)/corpus") {
            let file = name.split(separator: "/").last.map(String.init) ?? name
            #expect(file.count == 40 && file.allSatisfy(\.isHexDigit), "\(name) is not named by its SHA-1 as libFuzzer names inputs")
            #expect(!seeds.contains(bytes) && !guests.contains(bytes), "\(name) is a copy of a seed or a built guest")
        }
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func randomInputsPass(target: String) throws {
        let run = try #require(FuzzTarget.named(target)).run
        for seed in testSeeds([UInt64(target.utf8.count) &* 7919]) {
            var random = SplitMix64(seed: seed)
            for index in 0..<300 {
                let bytes = (0..<Int(random.next() % 512)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                do { try run(bytes) } catch {
                    Issue.record("\(target), input \(index): \(error) \(replayHint(seed))")
                    return
                }
            }
        }
    }

    /// The MSI-X target's checker catches what it claims to: a release without a use, a use
    /// twice, a commit with nothing before it, and a send while masked.
    @Test func theMSIXCheckerCatchesBrokenNotifierCalls() throws {
        let notifiers = CheckingNotifiers()
        notifiers.release(vector: 3)
        #expect(notifiers.violation == "release(3) without a use")
        let twice = CheckingNotifiers()
        try twice.use(vector: 1, message: MSIXMessage(address: 0xFEE0_0000, data: 0))
        try twice.use(vector: 1, message: MSIXMessage(address: 0xFEE0_0000, data: 0))
        #expect(twice.violation == "use(1) twice without a release")
        let idle = CheckingNotifiers()
        idle.commit()
        #expect(idle.violation == "commit without a use or release before it")
        let sender = CheckingNotifiers()
        let device = try MSIXDevice(layout: try MSIXLayout.exclusiveBAR(vectorCount: 2, bar: 1), capabilityOffset: 0x40, sink: sender)
        sender.device = device
        sender.send(MSIXMessage(address: 0xFEE0_0000, data: 0), vector: 0)  // every vector starts masked
        #expect(sender.violation == "vector 0 sent while masked or with Bus Master Enable clear")
    }
}
