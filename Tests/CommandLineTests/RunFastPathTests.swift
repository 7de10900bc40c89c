import ArgumentParser
import Testing
import TestSupport
@testable import vmm

/// The start-up fast path of `vmm run` and ArgumentParser read a command line the same way:
/// whatever the fast path takes, ArgumentParser takes too, giving the same request; and the
/// command lines a run is usually given are taken by the fast path.
@Suite struct RunFastPathTests {
    /// What ArgumentParser makes of `arguments`: the request, or nil when it refuses them or
    /// reads them as something other than a run (help, say).
    static func argumentParser(_ arguments: [String]) -> RunRequest? {
        guard let command = try? VMMCommand.parseAsRoot(arguments) else { return nil }
        return (command as? RunCommand)?.request
    }

    @Test func plainRunsAreTakenAsArgumentParserTakesThem() throws {
        let lines: [[String]] = [
            ["run"],
            ["run", "guest.elf"],
            ["run", "guest.elf", "--memory", "64", "--quiet"],
            ["run", "guest.elf", "--vcpus", "4", "--timeout", "2.5", "--stats"],
            ["run", "kernel.elf", "--cmdline", "console=ttyS0 quiet", "--initrd", "a.img", "--initrd", "b.img"],
            ["run", "kernel.elf", "--boot-protocol", "pvh", "--machine", "pc", "--memory", "1G"],
            ["run", "--quiet", "--memory", "128M"],
        ]
        for line in lines {
            let fast = RunFastPath.parse(line)
            #expect(fast != nil, "the fast path declined \(line)")
            #expect(fast == Self.argumentParser(line), "\(line)")
        }
        #expect(RunFastPath.parse(["run", "k.elf", "--initrd", "a", "--initrd", "b"])?.initrd == ["a", "b"], "in order")
        #expect(RunFastPath.parse(["run"]) == RunRequest.defaults)
    }

    @Test func anythingElseGoesToArgumentParser() {
        let lines: [[String]] = [
            [], ["test"], ["run", "--help"], ["run", "-h"], ["run", "guest.elf", "extra.elf"],
            ["run", "--memory=64"], ["run", "--memory"], ["run", "--memory", "-1"], ["run", "--memory", "64X"],
            ["run", "--vcpus", "0"], ["run", "--timeout", "0"], ["run", "--timeout", "nan"], ["run", "--machine", "q35"],
            ["run", "--boot-protocol", "linux2"], ["run", "--quiet", "--quiet"], ["run", "--vcpus", "1", "--vcpus", "2"],
            ["run", "--dump-dtb", "x.dtb"], ["run", "--ecam-base", "0xB0000000"], ["run", "--generate-completion-script", "bash"],
            ["run", "--", "guest.elf"], ["run", "-guest.elf"], ["run", "--cmdline", "-x"],
        ]
        for line in lines { #expect(RunFastPath.parse(line) == nil, "\(line)") }
    }

    /// Random command lines from the options both readers know, with good and bad values, in
    /// any order: the fast path takes a line only as ArgumentParser does, and takes every line
    /// whose values are all good.
    @Test(arguments: testSeeds([1, 2, 3, 4, 5, 6, 7, 8]))
    func randomCommandLinesReadTheSameByBoth(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let values: [String: (good: [String], bad: [String])] = [
            "--memory": (["64", "2", "128M", "1G", "4096K", "64MiB", "3"], ["0x40", "-5", "", "1T", "99999999999999999999G"]),
            "--vcpus": (["1", "2", "8", "+3"], ["0", "-1", "two", "1.5"]),
            "--timeout": (["1", "0.25", "86400", "5e1"], ["0", "-3", "nan", "inf", "86401", "x"]),
            "--cmdline": (["", "console=ttyS0", "a b c", "x=1"], ["-v"]),
            "--initrd": (["a.img", "/tmp/b", "c d"], ["-i"]),
            "--boot-protocol": (["auto", "pvh", "multiboot", "elf64"], ["PVH", "bios", ""]),
            "--machine": (["auto", "vmm", "pc"], ["q35", "PC", ""]),
        ]
        let flags = ["--quiet", "--stats"]
        var taken = 0
        for round in 0..<300 {
            var line = ["run"]
            var allGood = true
            var used: Set<String> = []
            if Bool.random(using: &random) { line.append(["g.elf", "dir/k.elf", "x"].randomElement(using: &random)!) }
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                if Int.random(in: 0..<4, using: &random) == 0 {
                    let flag = flags.randomElement(using: &random)!
                    if !used.insert(flag).inserted { allGood = false }
                    line.append(flag)
                    continue
                }
                let name = values.keys.sorted().randomElement(using: &random)!
                if name != "--initrd", !used.insert(name).inserted { allGood = false }
                let choice = values[name]!
                if Int.random(in: 0..<5, using: &random) == 0 {
                    line += [name, choice.bad.randomElement(using: &random)!]
                    allGood = false
                } else {
                    line += [name, choice.good.randomElement(using: &random)!]
                }
            }
            let fast = RunFastPath.parse(line)
            let full = Self.argumentParser(line)
            if let fast {
                taken += 1
                #expect(fast == full, "round \(round): \(line) read differently; \(replayHint(seed))")
            } else {
                #expect(!allGood, "round \(round): the fast path declined \(line), all of whose values are good; \(replayHint(seed))")
            }
        }
        #expect(taken > 50, "the fast path took only \(taken) of 300 lines; \(replayHint(seed))")
    }
}
