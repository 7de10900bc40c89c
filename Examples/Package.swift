// swift-tools-version: 6.0
// Two small experiments built on SwiftVMM as a library user would build them (by path, as a
// dependency): a new MSI-X PCI device with its own guest, and a machine whose exit observer
// counts exits per port. Scripts/examples.sh builds and runs both (CI does).
import PackageDescription

let vmm: (String) -> Target.Dependency = { .product(name: $0, package: "SwiftVMM") }

let package = Package(
    name: "SwiftVMMExamples",
    dependencies: [.package(name: "SwiftVMM", path: "..")],
    targets: [
        .executableTarget(name: "tick-device", dependencies: [vmm("VMM"), vmm("KVMMSIX"), vmm("PCI"), vmm("Threads")]),
        .executableTarget(name: "exit-counter", dependencies: [vmm("VMM"), vmm("Threads")]),
    ],
    swiftLanguageModes: [.v6]
)
