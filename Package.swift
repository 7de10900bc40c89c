// swift-tools-version: 6.0
// A small KVM virtual-machine monitor: typed KVM layer, PCI bus model, MSI-X with KVM interrupt
// routing, device tree (libfdt), tiny test guests and a runner. See README.md and docs in Guests/.
import PackageDescription

let package = Package(
    name: "SwiftVMM",
    products: [
        .library(name: "KVM", targets: ["KVM"]),
        .library(name: "Memory", targets: ["Memory"]),
        .library(name: "Devices", targets: ["Devices"]),
        .library(name: "PCI", targets: ["PCI"]),
        .library(name: "Interrupts", targets: ["Interrupts"]),
        .library(name: "MSIX", targets: ["MSIX"]),
        .library(name: "MSIXReplay", targets: ["MSIXReplay"]),
        .library(name: "KVMMSIX", targets: ["KVMMSIX"]),
        .library(name: "Threads", targets: ["Threads"]),
        .library(name: "DeviceTree", targets: ["DeviceTree"]),
        .library(name: "Platform", targets: ["Platform"]),
        .library(name: "MachineDevices", targets: ["MachineDevices"]),
        .library(name: "Virtio", targets: ["Virtio"]),
        .library(name: "VirtioPCI", targets: ["VirtioPCI"]),
        .library(name: "VirtioEntropy", targets: ["VirtioEntropy"]),
        .library(name: "VirtioBlock", targets: ["VirtioBlock"]),
        .library(name: "VMM", targets: ["VMM"]),
        .library(name: "GuestSuite", targets: ["GuestSuite"]),
        .executable(name: "vmm", targets: ["vmm"]),
        .executable(name: "vmm-bench", targets: ["vmm-bench"]),
        .executable(name: "vmm-qemu", targets: ["vmm-qemu"]),
        .library(name: "QEMUFrontEnd", targets: ["QEMUFrontEnd"]),
        // The fuzz targets as functions: Fuzz/ wraps them for libFuzzer, swift test replays their inputs.
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // A library user's Logger can take the machine's diagnostics (MachineConfiguration.log(to:)).
        .package(url: "https://github.com/apple/swift-log", from: "1.11.0"),
        // Host files and descriptors: FileDescriptor (open, read, write, stat, close) and Errno,
        // rather than raw Glibc calls. VMM's HostFile reads guests and writes reports with it;
        // KVM's OwnedFileDescriptor owns each KVM, vCPU and eventfd descriptor as one.
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // `swift package generate-documentation` (Scripts/docs.sh): the DocC catalogs in Sources/*/*.docc.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .target(name: "CKVM"),
        // Hex, byte counts, JSON and XML escaping, shared by the modules' messages and reports.
        .target(name: "TextFormat"),
        .target(name: "KVM", dependencies: ["CKVM", "TextFormat", "Threads", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "Memory", dependencies: ["CKVM", "TextFormat"]),
        .target(name: "Devices", dependencies: ["TextFormat", "Threads"]),
        .target(name: "PCI", dependencies: ["Devices", "TextFormat", "Threads"]),
        .target(name: "Interrupts", dependencies: ["KVM", "Threads"]),
        // The MSI-X function knows nothing of KVM or PCI: it talks to notifier and sink protocols.
        .target(name: "MSIX", dependencies: ["TextFormat"]),
        .target(name: "MSIXReplay", dependencies: ["MSIX", "TextFormat"]),
        // Dedicated OS threads, a pthread monitor and pthread-locked values: vCPU loops and backends
        // block in the kernel, so they never run on Swift concurrency's pool, and every lock is
        // one the thread sanitizer sees (Locked.swift says why not Synchronization.Mutex).
        .target(name: "Threads"),
        // The MSI-X PCI function on KVM: MSIX joined to PCI and to the Interrupts router.
        .target(name: "KVMMSIX", dependencies: ["CKVM", "MSIX", "PCI", "Interrupts", "KVM", "Devices", "Threads"]),
        // libfdt from Debian's libfdt-dev, which ships no pkg-config file: the module map links
        // "fdt" itself. Scripts/setup.sh installs the package.
        .systemLibrary(name: "CLibFDT", providers: [.apt(["libfdt-dev"])]),
        .target(name: "DeviceTree", dependencies: ["CLibFDT"]),
        .target(name: "Platform", dependencies: ["KVM", "Memory", "DeviceTree", "TextFormat"]),
        // The devices a machine offers: console, exit port, probe, the MSI-X test device, the pc
        // devices (16550, fw_cfg, RTC, test devices, a userspace IOAPIC, VT-d, edu).
        .target(name: "MachineDevices", dependencies: ["Devices", "KVM", "Memory", "PCI", "Interrupts", "MSIX", "KVMMSIX", "Threads"]),
        // Virtqueues (split rings, descriptor chains) and the device protocol, transport-free.
        .target(name: "Virtio", dependencies: ["CKVM", "Memory", "TextFormat"]),
        // The modern virtio-pci transport on the MSI-X PCI function.
        .target(name: "VirtioPCI", dependencies: ["Virtio", "PCI", "KVMMSIX", "KVM", "Interrupts", "Memory", "Threads"]),
        // One module per virtio device.
        .target(name: "VirtioEntropy", dependencies: ["CKVM", "Virtio", "Memory"]),
        .target(name: "VirtioBlock", dependencies: ["Virtio", "Memory"]),
        // Machine assembly and the vCPU loop.
        .target(name: "VMM", dependencies: ["KVM", "Memory", "Devices", "PCI", "Interrupts", "MSIX", "KVMMSIX", "MachineDevices", "Threads", "Platform", "TextFormat",
                                            "Virtio", "VirtioPCI", "VirtioEntropy", "VirtioBlock",
                                            .product(name: "Logging", package: "swift-log"),
                                            .product(name: "SystemPackage", package: "swift-system")]),
        // The guest conformance suite: manifest, runner, reports.
        .target(name: "GuestSuite", dependencies: ["VMM", "MachineDevices", "Threads", "TextFormat"]),
        .executableTarget(
            name: "vmm",
            dependencies: ["VMM", "Interrupts", "GuestSuite", "MSIXReplay", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            plugins: ["BuildInfo"]
        ),
        // `vmm --version`: VERSION and the git revision, written into vmm's sources at build time.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        .executableTarget(name: "vmm-bench", dependencies: ["VMM", "MachineDevices"]),
        // QEMU's command line (the part kvm-unit-tests uses) mapped onto a vmm pc machine.
        .target(name: "QEMUFrontEnd", dependencies: ["VMM", "Platform", "KVM", "MachineDevices", "TextFormat"]),
        .target(name: "FuzzTargets", dependencies: ["Platform", "PCI", "Devices", "MachineDevices", "MSIX", "MSIXReplay", "DeviceTree", "Threads",
                                                    "Memory", "Virtio", "VirtioBlock", "VirtioEntropy"]),
        .executableTarget(name: "vmm-qemu", dependencies: ["QEMUFrontEnd", "VMM", "Platform", "KVM"]),
        // What several test targets share (the KVM-availability check, a seeded generator).
        .target(name: "TestSupport", dependencies: ["KVM"], path: "Tests/TestSupport"),
        .testTarget(name: "TextFormatTests", dependencies: ["TestSupport", "TextFormat"]),
        .testTarget(name: "ThreadsTests", dependencies: ["TestSupport", "Threads"]),
        .testTarget(name: "KVMTests", dependencies: ["TestSupport", "KVM", "CKVM"]),
        .testTarget(name: "MemoryTests", dependencies: ["TestSupport", "Memory"]),
        .testTarget(name: "DevicesTests", dependencies: ["TestSupport", "Devices"]),
        .testTarget(name: "InterruptsTests", dependencies: ["TestSupport", "Interrupts", "KVM", "KVMMSIX", "MSIX"]),
        .testTarget(name: "MSIXTests", dependencies: ["TestSupport", "MSIX"]),
        .testTarget(name: "MSIXReplayTests", dependencies: ["MSIXReplay", "MSIX"]),
        .testTarget(name: "PCITests", dependencies: ["TestSupport", "PCI", "Devices"]),
        .testTarget(name: "DeviceTreeTests", dependencies: ["TestSupport", "DeviceTree", "Platform"]),
        .testTarget(name: "PlatformTests", dependencies: ["TestSupport", "Platform", "Memory"]),
        .testTarget(name: "MachineDevicesTests", dependencies: ["TestSupport", "MachineDevices", "Memory", "PCI"]),
        .testTarget(name: "VirtioTests", dependencies: ["TestSupport", "Virtio", "VirtioBlock", "VirtioEntropy", "VirtioPCI", "Interrupts", "KVM", "Memory"]),
        // Run alone under the thread sanitizer by Scripts/tsan.sh.
        .testTarget(name: "ConcurrencyTests", dependencies: ["TestSupport", "VMM", "Platform"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets", "TestSupport", "MSIX"]),
        .testTarget(name: "QEMUFrontEndTests", dependencies: ["TestSupport", "QEMUFrontEnd", "VMM", "KVM", "MachineDevices"]),
        // The start-up fast path of `vmm run` against ArgumentParser's reading.
        .testTarget(name: "CommandLineTests", dependencies: ["vmm", "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "VMMTests", dependencies: ["TestSupport", "VMM", "KVM", "PCI", "TextFormat", "MachineDevices", "GuestSuite", "MSIXReplay",
                                                    .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
