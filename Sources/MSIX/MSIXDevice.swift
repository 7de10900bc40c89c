/// The MSI-X state of one PCI function: capability registers, vector table, Pending Bit Array,
/// per-vector use counts and the use/release/poll notifiers.
///
/// The PCI layer routes config-space accesses that cover the capability to
/// `capabilityRead`/`capabilityWrite`, and accesses to the BAR(s) holding the table and the PBA to
/// `read(bar:offset:size:)`/`write(bar:offset:size:value:)`. The device model raises vectors with
/// `notify(vector:)`. Everything it delivers goes to the `MSIXMessageSink` and, once set, the
/// `MSIXVectorNotifiers`; see there for the order and balance of calls.
///
/// Every argument a guest controls (offsets, sizes, values, vector numbers) is checked: no guest
/// access can trap; refused ones are counted in `counters`. Storage is allocated at init: the
/// table, PBA, capability and `notify` paths allocate nothing.
///
/// Not thread-safe: the owner serialises calls (e.g. the device model's lock). Notifiers and sink
/// are called synchronously, from inside the call that caused them.
public final class MSIXDevice {
    /// Where table and PBA live.
    public let layout: MSIXLayout
    /// Offset of the capability in configuration space.
    public let capabilityOffset: Int
    /// The Next Pointer byte of the capability: the PCI layer's capability list owns it and sets
    /// it; guest writes to it are ignored.
    public var nextPointer: UInt8
    /// Invalid accesses and deliveries, counted.
    public internal(set) var counters = MSIXCounters()
    /// The last use notifier failure, if any (also counted in `counters.useNotifierFailures`).
    public internal(set) var lastUseFailure: MSIXUseFailure?

    var control: MSIXMessageControl
    var table: MSIXTable
    var pending: MSIXPendingBits
    var useCounts: [UInt32]
    /// `useNotified[v]`: use(v) was called and release(v) not yet.
    var useNotified: [Bool]
    let sink: any MSIXMessageSink
    var notifiers: (any MSIXVectorNotifiers)?
    var pollsOnPBARead = false
    /// use or release was called during the current operation: commit at its end.
    var notifiersCalled = false
    /// Bus Master Enable, as the PCI layer last reported it (see MSIXDevice+BusMaster.swift).
    var busMaster = true

    /// A function with `layout`, its capability at `capabilityOffset`, sending messages to
    /// `sink`. It starts as after reset: every vector masked, address and data 0, nothing
    /// pending, MSI-X disabled, no notifiers; every use count `initialUseCount`.
    public init(layout: MSIXLayout, capabilityOffset: Int, nextPointer: UInt8 = 0,
                initialUseCount: UInt32 = 0, sink: any MSIXMessageSink) throws(MSIXError) {
        try MSIXCapability.validate(offset: capabilityOffset)
        self.layout = layout
        self.capabilityOffset = capabilityOffset
        self.nextPointer = nextPointer
        self.sink = sink
        let n = layout.vectorCount
        control = MSIXMessageControl(vectorCount: n)
        table = MSIXTable(vectorCount: n)
        pending = MSIXPendingBits(vectorCount: n)
        useCounts = [UInt32](repeating: initialUseCount, count: n)
        useNotified = [Bool](repeating: false, count: n)
    }

    /// Number of vectors, n.
    public var vectorCount: Int { layout.vectorCount }

    /// Message Control as the guest reads it.
    public var messageControl: MSIXMessageControl { control }

    /// MSI-X Enable (Message Control bit 15).
    public var isEnabled: Bool { control.enable }

    /// Function Mask (Message Control bit 14).
    public var isFunctionMaskSet: Bool { control.functionMask }

    /// Every vector is masked by the function: `!Enable || Function Mask`.
    public var isFunctionMasked: Bool { control.masksFunction }

    /// Whether notifiers are set.
    public var hasNotifiers: Bool { notifiers != nil }

    /// Whether `vector` is masked (function masked or its Mask bit set). Out of range: true.
    public func isMasked(vector: Int) -> Bool {
        guard contains(vector) else { return true }
        return control.masksFunction || table.maskBitSet(vector)
    }

    /// Whether `vector`'s pending bit is set. Out of range: false.
    public func isPending(vector: Int) -> Bool {
        contains(vector) && pending.isSet(vector)
    }

    /// The message `vector`'s entry holds. Out of range: nil.
    public func message(vector: Int) -> MSIXMessage? {
        contains(vector) ? table.message(vector) : nil
    }

    /// Whether use(vector) was called and release(vector) not yet. Out of range: false.
    public func isUseNotified(vector: Int) -> Bool {
        contains(vector) && useNotified[vector]
    }

    /// Zeroes `counters` and forgets `lastUseFailure`.
    public func resetCounters() {
        counters = MSIXCounters()
        lastUseFailure = nil
    }

    func contains(_ vector: Int) -> Bool { vector >= 0 && vector < layout.vectorCount }
}
