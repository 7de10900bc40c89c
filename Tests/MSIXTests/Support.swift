import MSIX

/// What a test sink saw, in order.
enum Call: Equatable, CustomStringConvertible {
    case use(Int, MSIXMessage)
    case useFailed(Int)
    case release(Int)
    case poll(Int, Int)
    case send(Int, MSIXMessage)
    case commit

    var description: String {
        switch self {
        case let .use(v, m): return "use(\(v), \(m))"
        case let .useFailed(v): return "useFailed(\(v))"
        case let .release(v): return "release(\(v))"
        case let .poll(f, e): return "poll(\(f), \(e))"
        case let .send(v, m): return "send(\(v), \(m))"
        case .commit: return "commit"
        }
    }
}

struct RouteTableFull: Error, CustomStringConvertible {
    var description: String { "route table full" }
}

/// A sink and notifiers that record every call and check the balance rule as they go.
final class TestSink: MSIXInterruptSink {
    var calls: [Call] = []
    /// Vectors between use and release.
    private(set) var active = Set<Int>()
    /// Balance-rule violations seen.
    private(set) var violations: [String] = []
    /// Which use calls fail.
    var failUse: (Int) -> Bool = { _ in false }
    /// Extra work during poll (e.g. setting pending bits).
    var onPoll: ((Int, Int, MSIXDevice) -> Void)?

    func use(vector: Int, message: MSIXMessage) throws {
        if active.contains(vector) { violations.append("use(\(vector)) while in use") }
        if failUse(vector) {
            calls.append(.useFailed(vector))
            throw RouteTableFull()
        }
        active.insert(vector)
        calls.append(.use(vector, message))
    }

    func release(vector: Int) {
        if active.remove(vector) == nil { violations.append("release(\(vector)) without use") }
        calls.append(.release(vector))
    }

    func poll(first: Int, end: Int, device: MSIXDevice) {
        if first >= end { violations.append("empty poll(\(first), \(end))") }
        calls.append(.poll(first, end))
        onPoll?(first, end, device)
    }

    func send(_ message: MSIXMessage, vector: Int) {
        calls.append(.send(vector, message))
    }

    func commit() { calls.append(.commit) }

    /// Returns and forgets the calls.
    func take() -> [Call] {
        defer { calls = [] }
        return calls
    }
}

/// The message tests program into vector v.
func msg(_ v: Int) -> MSIXMessage { MSIXMessage(address: 0xFEE0_0000 + UInt64(v) << 12, data: 0x40 + UInt32(v)) }

/// A device with the exclusive-BAR layout in BAR 1, capability at 0x50, every vector used once.
func makeDevice(_ n: Int = 16, sink: TestSink, used: UInt32 = 1) throws -> MSIXDevice {
    try MSIXDevice(layout: MSIXLayout.exclusiveBAR(vectorCount: n, bar: 1), capabilityOffset: 0x50,
                   initialUseCount: used, sink: sink)
}

let bar = 1

extension MSIXDevice {
    /// Message Control high byte through config space: Enable bit 15, Function Mask bit 14.
    func setControl(enable: Bool, maskAll: Bool = false) {
        capabilityWrite(offset: 2, size: 2, value: (enable ? 0x8000 : 0) | (maskAll ? 0x4000 : 0))
    }

    /// Programs vector v's address and data (4-byte writes), leaving Vector Control alone.
    func program(_ v: Int, _ m: MSIXMessage) {
        let base = UInt64(16 * v)
        write(bar: bar, offset: base, size: 4, value: m.address & 0xFFFF_FFFF)
        write(bar: bar, offset: base + 4, size: 4, value: m.address >> 32)
        write(bar: bar, offset: base + 8, size: 4, value: UInt64(m.data))
    }

    /// Writes vector v's Vector Control.
    func setMask(_ v: Int, _ masked: Bool) {
        write(bar: bar, offset: UInt64(16 * v + 12), size: 4, value: masked ? 1 : 0)
    }

    /// Reads the PBA qword q as two dwords (so as not to depend on 8-byte handling).
    func pbaDword(_ index: Int) -> UInt64 {
        read(bar: bar, offset: layout.pba.offset + UInt64(4 * index), size: 4)
    }
}
