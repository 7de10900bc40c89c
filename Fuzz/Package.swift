// swift-tools-version: 6.0
// Coverage-guided fuzz targets (libFuzzer) over the parts of SwiftVMM that a guest or a file
// controls. Built only by Scripts/fuzz.sh, with libFuzzer and AddressSanitizer: libFuzzer supplies
// main(), each executable supplies LLVMFuzzerTestOneInput, which runs the target of its name in
// SwiftVMM's FuzzTargets module (where `swift test` replays the seeds and regression inputs).
import PackageDescription

/// libFuzzer provides main(): the targets are libraries in all but name.
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
let names = ["fuzz-boot-loaders", "fuzz-pci-config", "fuzz-pc-devices", "fuzz-trace-replay", "fuzz-msix", "fuzz-acpi-tables",
             "fuzz-device-tree", "fuzz-virtio-queues", "fuzz-remapping"]

let package = Package(
    name: "SwiftVMMFuzz",
    dependencies: [.package(name: "SwiftVMM", path: "..")],
    targets: names.map { name in
        .executableTarget(name: name, dependencies: [.product(name: "FuzzTargets", package: "SwiftVMM")], swiftSettings: library)
    },
    swiftLanguageModes: [.v6]
)
