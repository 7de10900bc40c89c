#if canImport(Glibc)
import Glibc
#endif
import Platform

/// What to build: the layout (RAM, vCPUs, windows), where KVM is, and where output goes.
public struct MachineConfiguration: Sendable {
    public var layout = MachineLayout()
    /// The KVM device to open.
    public var kvmDevicePath = "/dev/kvm"
    /// Echo the guest's console output to standard output.
    public var echoConsole = true
    /// Where the VMM's own diagnostics go (one line each); standard error by default.
    public var log: @Sendable (String) -> Void = MachineConfiguration.standardError

    public init() {}

    /// Writes `line` and a newline to standard error.
    public static let standardError: @Sendable (String) -> Void = { line in
        var text = "vmm: " + line + "\n"
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }

    /// Checks the layout's values; throws naming the first bad one.
    public func validate() throws(VMMError) {
        let ram = layout.ramSize
        guard ram >= BootLayout.minimumRAM else { throw .memoryTooSmall(requested: ram, minimum: BootLayout.minimumRAM) }
        guard ram % (2 << 20) == 0 else { throw .memoryNotAligned(ram) }
        let limit = [layout.mmioWindowBase, layout.ecamBase, layout.probeMMIOBase, layout.ioapicBase].min() ?? 0
        guard ram <= limit else { throw .memoryTooLarge(requested: ram, limit: limit) }
        guard (1...BootLayout.maxVCPUs).contains(layout.vcpuCount) else {
            throw .vcpuCount(requested: layout.vcpuCount, maximum: BootLayout.maxVCPUs)
        }
    }
}
