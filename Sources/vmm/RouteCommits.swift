import ArgumentParser
import Interrupts

/// `--route-commits`: when changes to the GSI routing table reach KVM.
enum RouteCommits: String, CaseIterable, ExpressibleByArgument {
    /// Batched across guest accesses (1 ms after the last change, or at 256 pending).
    case coalesced
    /// At the end of every guest access that changed a route.
    case immediate

    var policy: RouteCommitPolicy { self == .coalesced ? .coalesced : .immediate }

    static let help = ArgumentHelp(
        "When MSI-X route changes reach KVM: coalesced batches them across guest writes (1 ms after the last, "
            + "or at 256 pending; a vector waiting for its route is served by KVM_SIGNAL_MSI), immediate commits "
            + "after each write that changed one.",
        valueName: "coalesced|immediate")
}
