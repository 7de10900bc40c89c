import MSIX
import TextFormat

/// Replays an MSI-X trace: one JSON object per input line, one JSON event per output line, in
/// the order things happen (see design.md, "Trace replay").
///
/// ```
/// var replayer = Replayer()
/// for (i, line) in lines.enumerated() {
///     replayer.feed(line: line, number: i + 1) { print($0) }
/// }
/// ```
/// A line that cannot be carried out (bad JSON, unknown op, missing or mistyped field, vector
/// ≥ n, an op before `init`, `notifiers` twice, `load` with nothing saved, an invalid `init`)
/// emits one `error` event and changes nothing; replay goes on. Blank lines are skipped.
public struct Replayer {
    /// The module `init` made, if any.
    public private(set) var device: MSIXDevice?
    /// Its router (message sink and, after `notifiers`, notifiers).
    public private(set) var router: RecordingRouter?
    private var saved: MSIXSnapshot?

    /// Where the MSI-X BAR sits in a replayed function; only bar_* offsets within it matter.
    public static let bar = 0
    /// Where the capability sits in config space; cap_* offsets are relative to it.
    public static let capabilityOffset = 0x40

    /// A replayer with no module yet: every op before the first `init` is an error.
    public init() {}

    /// Carries out one input line, passing each output line to `emit`.
    public mutating func feed(line: String, number: Int, emit: (String) -> Void) {
        for event in events(line: line, number: number) {
            emit(event.description)
        }
    }

    /// Carries out one input line and returns its events.
    public mutating func events(line: String, number: Int) -> [ReplayEvent] {
        if line.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }) { return [] }
        var events: [ReplayEvent]
        do {
            let fields = try parseFlatJSONObject(line)
            events = try perform(Fields(fields))
        } catch let error as FlatJSONError {
            events = [.error(line: number, message: error.description)]
        } catch let error as ReplayError {
            events = [.error(line: number, message: error.message)]
        } catch let error as MSIXError {
            events = [.error(line: number, message: error.description)]
        } catch {
            events = [.error(line: number, message: String(describing: error))]
        }
        // What the router recorded happened before the op's own event (a read or an error).
        if let router {
            events.insert(contentsOf: router.takeEvents(), at: 0)
        }
        return events
    }

    /// Replays a whole trace, numbering lines from 1: its output lines.
    public static func replay(_ lines: [String]) -> [String] { events(lines).map(\.description) }

    /// Replays a whole trace, numbering lines from 1: its events.
    public static func events(_ lines: [String]) -> [ReplayEvent] {
        var replayer = Replayer()
        var events: [ReplayEvent] = []
        for (index, line) in lines.enumerated() {
            events += replayer.events(line: line, number: index + 1)
        }
        return events
    }

    /// Carries out one op. Events the router recorded come before the returned ones (a read).
    private mutating func perform(_ fields: Fields) throws -> [ReplayEvent] {
        let op = try fields.string("op")
        if op == "init" {
            let count = try fields.integer("vectors")
            guard let n = count.intValue else {
                throw ReplayError("MSI-X vector count \(count) is outside 1…\(MSIXLayout.maximumVectors)")
            }
            let layout = try MSIXLayout.exclusiveBAR(vectorCount: n, bar: Self.bar)
            let router = RecordingRouter(vectorCount: n)
            device = try MSIXDevice(layout: layout, capabilityOffset: Self.capabilityOffset, initialUseCount: 1, sink: router)
            self.router = router
            saved = nil
            return []
        }
        guard let operation = Operation(rawValue: op) else { throw ReplayError("unknown op \(jsonStringLiteral(op))") }
        guard let device, let router else { throw ReplayError("op \(jsonStringLiteral(op)) before init") }
        switch operation {
        case .notifiers:
            let poll = try fields.bool("poll")
            try device.setNotifiers(router, poll: poll)
        case .unsetNotifiers:
            device.unsetNotifiers()
        case .capWrite:
            let offset = try fields.int("offset")
            let size = try fields.int("size")
            let value = try fields.unsigned("value")
            device.capabilityWrite(offset: offset, size: size, value: UInt32(truncatingIfNeeded: value))
        case .capRead:
            let offset = try fields.int("offset")
            let size = try fields.int("size")
            return [.read(value: UInt64(device.capabilityRead(offset: offset, size: size)))]
        case .barWrite:
            let offset = try fields.unsigned("offset")
            let size = try fields.int("size")
            let value = try fields.unsigned("value")
            device.write(bar: Self.bar, offset: offset, size: size, value: value)
        case .barRead:
            let offset = try fields.unsigned("offset")
            let size = try fields.int("size")
            return [.read(value: device.read(bar: Self.bar, offset: offset, size: size))]
        case .notify:
            device.notify(vector: try vector(fields, of: device))
        case .backend:
            router.backend(vector: try vector(fields, of: device))
        case .use:
            device.use(vector: try vector(fields, of: device))
        case .unuse:
            device.unuse(vector: try vector(fields, of: device))
        case .unuseAll:
            device.unuseAll()
        case .reset:
            device.reset()
        case .save:
            saved = device.snapshot()
        case .load:
            guard let saved else { throw ReplayError("load with no snapshot saved") }
            try device.restore(saved)
        }
        return []
    }

    /// The ops other than `init`, by their names in a trace.
    private enum Operation: String {
        case notifiers, notify, backend, use, unuse, reset, save, load
        case unsetNotifiers = "unset_notifiers", unuseAll = "unuse_all"
        case capWrite = "cap_write", capRead = "cap_read", barWrite = "bar_write", barRead = "bar_read"
    }

    private func vector(_ fields: Fields, of device: MSIXDevice) throws -> Int {
        let value = try fields.integer("vector")
        guard let vector = value.intValue, vector >= 0, vector < device.vectorCount else {
            throw ReplayError("vector \(value) is out of range (\(device.vectorCount) vectors)")
        }
        return vector
    }
}

/// Why a well-formed line could not be carried out.
struct ReplayError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Typed access to the fields of one input line.
private struct Fields {
    let values: [String: JSONScalar]

    init(_ values: [String: JSONScalar]) { self.values = values }

    private func value(_ key: String) throws -> JSONScalar {
        guard let value = values[key] else { throw ReplayError("missing field \(jsonStringLiteral(key))") }
        return value
    }

    func string(_ key: String) throws -> String {
        guard case let .string(text) = try value(key) else { throw ReplayError("field \(jsonStringLiteral(key)) must be a string") }
        return text
    }

    func bool(_ key: String) throws -> Bool {
        guard case let .bool(flag) = try value(key) else { throw ReplayError("field \(jsonStringLiteral(key)) must be true or false") }
        return flag
    }

    func integer(_ key: String) throws -> JSONInteger {
        guard case let .integer(number) = try value(key) else { throw ReplayError("field \(jsonStringLiteral(key)) must be an integer") }
        return number
    }

    /// A non-negative integer that fits an Int.
    func int(_ key: String) throws -> Int {
        let number = try integer(key)
        guard !number.isNegative, let value = number.intValue else {
            throw ReplayError("field \(jsonStringLiteral(key)) must be an integer in 0…\(Int.max), not \(number)")
        }
        return value
    }

    /// A non-negative integer below 2^64.
    func unsigned(_ key: String) throws -> UInt64 {
        let number = try integer(key)
        guard let value = number.unsignedValue else {
            throw ReplayError("field \(jsonStringLiteral(key)) must be a non-negative integer, not \(number)")
        }
        return value
    }
}
