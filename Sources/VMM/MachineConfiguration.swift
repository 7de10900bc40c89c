#if canImport(Glibc)
import Glibc
#endif
import Platform
import TextFormat

/// What to build: the layout (RAM, vCPUs, windows), where KVM is, and where output goes.
public struct MachineConfiguration: Sendable {
    public var layout = MachineLayout()
    /// The KVM device to open.
    public var kvmDevicePath = "/dev/kvm"
    /// MSI-X test devices to attach to PCI bus 0 (from 00:01.0 on).
    public var testDevices = 1
    /// MSI-X vectors of each test device (1…2048).
    public var msixVectors = 16
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
        let regions: [(String, UInt64, UInt64)] = [
            ("RAM", 0, ram), ("PCI MMIO window", layout.mmioWindowBase, layout.mmioWindowSize),
            ("ECAM", layout.ecamBase, layout.ecamSize), ("probe MMIO", layout.probeMMIOBase, layout.probeMMIOSize),
            ("IOAPIC", layout.ioapicBase, 0x1000), ("LAPIC", layout.lapicBase, 0x1000),
        ]
        for (i, a) in regions.enumerated() {
            guard a.2 > 0, a.2 <= 1 << 32, a.1 <= (1 << 32) - a.2 else { throw .layout("\(a.0) at \(hex(a.1)) (\(hex(a.2)) bytes) must lie below 4 GiB") }
            for b in regions[..<i] where a.1 < b.1 + b.2 && b.1 < a.1 + a.2 {
                throw .layout("\(a.0) at \(hex(a.1)) overlaps \(b.0) at \(hex(b.1))")
            }
        }
        guard layout.ecamSize >= 0x10_0000, layout.ecamBase % 0x10_0000 == 0 else {
            throw .layout("ECAM at \(hex(layout.ecamBase)) must be 1 MiB aligned and at least 1 MiB")
        }
        guard (0...31).contains(testDevices) else { throw .layout("test device count \(testDevices) is out of range 0…31") }
        guard (1...2048).contains(msixVectors) else { throw .layout("MSI-X vector count \(msixVectors) is out of range 1…2048") }
        guard (1...BootLayout.maxVCPUs).contains(layout.vcpuCount) else {
            throw .vcpuCount(requested: layout.vcpuCount, maximum: BootLayout.maxVCPUs)
        }
    }
}
