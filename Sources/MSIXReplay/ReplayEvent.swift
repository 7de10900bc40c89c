import MSIX
import TextFormat

/// One output line of a replay.
///
/// Rendered as compact JSON with `event` first and the other fields in the order of the design's
/// table, numbers in decimal:
/// ```
/// {"event":"use","vector":1,"address":4276092928,"data":34}
/// {"event":"release","vector":1}
/// {"event":"poll","first":0,"end":16}
/// {"event":"msi","vector":1,"address":4276092928,"data":34,"via":"signal"}
/// {"event":"read","value":0}
/// {"event":"error","line":3,"message":"unknown op \"frob\""}
/// ```
public enum ReplayEvent: Sendable, Equatable, CustomStringConvertible {
    /// How a message reached the interrupt controller.
    public enum Via: String, Sendable {
        /// Sent by the VMM (`KVM_SIGNAL_MSI`).
        case signal
        /// Injected by the kernel through the vector's irqfd.
        case irqfd
    }

    /// The use notifier fired: `vector` is unmasked and now routed to `message`.
    case use(vector: Int, message: MSIXMessage)
    /// The release notifier fired: `vector`'s route is gone (it was masked, its message
    /// changed, or a disable, reset, restore or `unset_notifiers` released it).
    case release(vector: Int)
    /// The poll notifier ran for vectors `first ..< end`: before a PBA read (never an empty
    /// range), or once for every vector when `notifiers` is given `"poll":true`.
    case poll(first: Int, end: Int)
    /// `message` reached the interrupt controller for `vector`, by `via`: sent by the VMM
    /// (`.signal`) or injected through the vector's irqfd (`.irqfd`).
    case msi(vector: Int, message: MSIXMessage, via: Via)
    /// What a `cap_read` or `bar_read` op returned (a refused access reads all ones).
    case read(value: UInt64)
    /// Input line `line` (1-based) could not be carried out and changed nothing; `message`
    /// says why. Replay goes on with the next line.
    case error(line: Int, message: String)

    /// The JSON line.
    public var description: String {
        switch self {
        case let .use(vector, message):
            return "{\"event\":\"use\",\"vector\":\(vector),\"address\":\(message.address),\"data\":\(message.data)}"
        case let .release(vector):
            return "{\"event\":\"release\",\"vector\":\(vector)}"
        case let .poll(first, end):
            return "{\"event\":\"poll\",\"first\":\(first),\"end\":\(end)}"
        case let .msi(vector, message, via):
            return "{\"event\":\"msi\",\"vector\":\(vector),\"address\":\(message.address),\"data\":\(message.data),\"via\":\"\(via.rawValue)\"}"
        case let .read(value):
            return "{\"event\":\"read\",\"value\":\(value)}"
        case let .error(line, message):
            return "{\"event\":\"error\",\"line\":\(line),\"message\":\(jsonStringLiteral(message))}"
        }
    }
}
