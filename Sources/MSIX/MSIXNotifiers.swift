/// Where the MSI-X function sends a message it delivers itself: a raise on an unmasked vector,
/// or a pending bit delivered on unmask. In the VMM this is `KVM_SIGNAL_MSI`.
///
/// Called synchronously from within the `MSIXDevice` call that delivers, in event order.
public protocol MSIXMessageSink: AnyObject {
    /// Delivers `message` for `vector` now.
    func send(_ message: MSIXMessage, vector: Int)
}

/// The use/release/poll notifiers: how an interrupt router (GSI routes + irqfd in the VMM) keeps
/// in step with the guest's masks without the MSI-X module knowing anything of KVM.
///
/// The balance rule: the module calls `use(vector:message:)` when a vector becomes unmasked
/// (or when notifiers are set and it is unmasked then), and calls `release(vector:)` exactly once
/// before it calls `use` for that vector again: when the vector becomes masked (its Mask bit,
/// the Function Mask, or Enable cleared), when its message changes while unmasked (release, then
/// use with the new message), on reset, restore, and `unsetNotifiers`. A `use` that throws
/// leaves nothing to release: the vector stays unmasked on the `MSIXMessageSink.send` path, the
/// failure is counted (`MSIXCounters.useNotifierFailures`, `MSIXDevice.lastUseFailure`) and
/// the next unmask or message change tries again.
///
/// Batching: `commit()` is called once at the end of every `MSIXDevice` operation (one guest
/// access, even an 8-byte one made of two halves; one `reset`, `restore`, `setNotifiers`,
/// `unsetNotifiers`) during which `use` or `release` was called, after the last of them and
/// after any `send` of that operation. A KVM router stages route changes in `use`/`release` and
/// issues one `KVM_SET_GSI_ROUTING` in `commit`. An operation that called neither does not
/// commit.
///
/// Re-entrancy: during `poll` the notifiers may call `MSIXDevice.isMasked(vector:)`,
/// `isPending(vector:)`, `message(vector:)` and `setPending(vector:)` on the device they are
/// given. From `use`, `release` and `commit` they must not call back into the device.
public protocol MSIXVectorNotifiers: AnyObject {
    /// Vector `vector` is unmasked and will deliver `message`: e.g. allocate a GSI, stage an MSI
    /// route and attach the vector's irqfd. Throw when that is impossible (route table full).
    func use(vector: Int, message: MSIXMessage) throws
    /// The last `use` of `vector` no longer holds: stage removing its route and detach its irqfd.
    func release(vector: Int)
    /// The guest is about to read the PBA bits of vectors `first ..< end` (never empty): move
    /// events that backends raised on masked vectors into pending bits with
    /// `device.setPending(vector:)`. Only called when notifiers were set with `poll: true`.
    func poll(first: Int, end: Int, device: MSIXDevice)
    /// The operation that called `use`/`release` is complete: apply the staged changes at once.
    func commit()
}

/// A router that is both: the notifiers and the plain send path (what the VMM's KVM interrupt
/// router implements).
public typealias MSIXInterruptSink = MSIXMessageSink & MSIXVectorNotifiers
