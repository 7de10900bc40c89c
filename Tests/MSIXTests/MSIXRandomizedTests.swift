import MSIX
import Testing
import TestSupport

/// A sink whose use fails now and then, that checks the balance rule and that every use/release
/// is committed before the operation returns.
final class CheckingSink: MSIXInterruptSink {
    private(set) var active = Set<Int>()
    private(set) var violations: [String] = []
    private(set) var uncommitted = false
    private(set) var uses = 0
    private(set) var releases = 0
    private var random: SplitMix64
    var failurePercent: UInt64 = 0
    var pollSetsPending = true

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    func use(vector: Int, message: MSIXMessage) throws {
        uncommitted = true
        if active.contains(vector) { violations.append("use(\(vector)) twice without release") }
        if random.next() % 100 < failurePercent { throw RouteTableFull() }
        active.insert(vector)
        uses += 1
    }

    func release(vector: Int) {
        uncommitted = true
        if active.remove(vector) == nil { violations.append("release(\(vector)) without use") }
        releases += 1
    }

    func poll(first: Int, end: Int, device: MSIXDevice) {
        if !(0 <= first && first < end && end <= device.vectorCount) { violations.append("bad poll(\(first), \(end))") }
        guard pollSetsPending, first < end else { return }
        for vector in first..<end where device.isMasked(vector: vector) && random.next() % 4 == 0 {
            device.setPending(vector: vector)
        }
    }

    func send(_ message: MSIXMessage, vector: Int) {}

    func commit() { uncommitted = false }

    func forgetAll() { active.removeAll() }
}

/// (vector count, seed): each size with its own seed, or every size with `VMM_TEST_SEED`.
let randomCases: [(Int, UInt64)] = {
    let sizes = [1, 3, 16, 64, 65, 200, 2048]
    let seeds = testSeeds(Array(1...UInt64(sizes.count)))
    return seeds.count == 1 ? sizes.map { ($0, seeds[0]) } : Array(zip(sizes, seeds))
}()

@Suite("Randomized guest accesses")
struct MSIXRandomizedTests {
    @Test("thousands of random capability and BAR accesses never trap and never break the balanced-notifier invariant",
          arguments: randomCases)
    func randomAccesses(n: Int, seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let sink = CheckingSink(seed: seed &* 31)
        let layout = try MSIXLayout.exclusiveBAR(vectorCount: n, bar: 1)
        let device = try MSIXDevice(layout: layout, capabilityOffset: 0x40, initialUseCount: 1, sink: sink)
        let barSize = layout.tableBARSize
        var saved = device.snapshot()
        let steps = n >= 2048 ? 1500 : 4000

        func randomOffset() -> UInt64 {
            switch random.next() % 8 {
            case 0: return random.next()                                        // anywhere
            case 1: return layout.pba.offset + random.next() % (layout.pbaSize + 16)
            case 2: return UInt64.max - random.next() % 16                      // near the top
            default: return random.next() % (barSize + 64)                      // in and just beyond the BAR
            }
        }
        func randomVector() -> Int { Int(random.next() % UInt64(n + 4)) - 2 }

        for step in 0..<steps {
            let size = Int(random.next() % 10)  // 0…9
            switch random.next() % 100 {
            case 0..<25:
                let offset = randomOffset()
                let aligned = random.next() % 2 == 0 ? offset & ~7 : offset
                let value = random.next() % 3 == 0 ? random.next() & 0x1_0000_0001 : random.next()
                device.write(bar: random.next() % 8 == 0 ? Int(random.next() % 7) : 1, offset: aligned, size: size, value: value)
            case 25..<40:
                let offset = randomOffset()
                _ = device.read(bar: random.next() % 8 == 0 ? Int(random.next() % 7) : 1, offset: random.next() % 2 == 0 ? offset & ~7 : offset, size: size)
            case 40..<45:
                let value = UInt32(truncatingIfNeeded: random.next())
                device.capabilityWrite(offset: Int(random.next() % 16) - 2, size: size, value: value)
            case 45..<52:
                // Message Control through its usual paths, biased towards "enabled, not masked".
                let control: UInt32 = [0x8000, 0x8000, 0x8000, 0xC000, 0x4000, 0][Int(random.next() % 6)]
                switch random.next() % 3 {
                case 0: device.capabilityWrite(offset: 0, size: 4, value: control << 16)
                case 1: device.capabilityWrite(offset: 2, size: 2, value: control)
                default: device.capabilityWrite(offset: 3, size: 1, value: control >> 8)
                }
            case 52..<55:
                _ = device.capabilityRead(offset: Int(random.next() % 16) - 2, size: size)
            case 55..<65:
                device.notify(vector: randomVector())
            case 65..<68:
                device.use(vector: randomVector())
            case 68..<71:
                device.unuse(vector: randomVector())
            case 71:
                if random.next() % 4 == 0 { device.unuseAll() }
            case 72:
                if random.next() % 4 == 0 { device.reset() }
            case 73..<75:
                saved = device.snapshot()
            case 75..<77:
                try device.restore(saved)
            case 77..<80:
                if device.hasNotifiers {
                    device.unsetNotifiers()
                } else {
                    sink.failurePercent = random.next() % 3 == 0 ? 10 : 0
                    do {
                        try device.setNotifiers(sink, poll: random.next() % 2 == 0)
                    } catch {
                        #expect(error.description.contains("use notifier failed"))
                    }
                }
            default:
                // Write a random dword of a random entry with aligned 4/8-byte accesses, the common case.
                let v = UInt64(random.next() % UInt64(n))
                let field = random.next() % 4
                if random.next() % 4 == 0 {
                    device.write(bar: 1, offset: 16 * v + 8 * (field % 2), size: 8, value: random.next() % 2 << 32 | random.next() % 4)
                } else {
                    device.write(bar: 1, offset: 16 * v + 4 * field, size: 4, value: field == 3 ? random.next() % 2 : random.next() % 4)
                }
            }

            // The invariants, after every step.
            #expect(sink.violations.isEmpty, "step \(step): \(sink.violations)")
            #expect(!sink.uncommitted, "step \(step): use/release not committed")
            if !device.hasNotifiers { #expect(sink.active.isEmpty, "step \(step): vectors left in use without notifiers") }
            for v in 0..<n where device.isUseNotified(vector: v) != sink.active.contains(v) || (device.isUseNotified(vector: v) && device.isMasked(vector: v)) {
                Issue.record("step \(step): vector \(v) in-use state differs or is in use while masked")
            }
            if !sink.violations.isEmpty { break }
        }
        device.unsetNotifiers()
        #expect(sink.active.isEmpty)
        #expect(sink.uses == sink.releases)
        #expect(sink.uses > 0, "the walk never unmasked a vector with notifiers set")
        // Reserved bits never stick.
        for v in 0..<n {
            #expect(device.read(bar: 1, offset: UInt64(16 * v + 12), size: 4) <= 1)
        }
        let spare = layout.pbaSize * 8 - UInt64(n)
        if spare > 0 {
            let last = device.read(bar: 1, offset: layout.pba.offset + layout.pbaSize - 8, size: 8)
            #expect(last >> (64 - spare) == 0)
        }
    }
}
