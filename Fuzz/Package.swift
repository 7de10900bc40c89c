// swift-tools-version: 6.0
// Coverage-guided fuzz targets (libFuzzer) over the parts of SwiftVMM that a guest or a file
// controls. Built only by Scripts/fuzz.sh, with -sanitize=fuzzer,address: libFuzzer supplies
// main(), each target supplies LLVMFuzzerTestOneInput.
import PackageDescription

/// libFuzzer provides main(): the targets are libraries in all but name.
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "SwiftVMMFuzz",
    dependencies: [.package(name: "SwiftVMM", path: "..")],
    targets: [
        // Decoding a fuzzer's bytes into fields (shared by the targets).
        .target(name: "FuzzInput"),
        .executableTarget(name: "fuzz-boot-loaders", dependencies: [.product(name: "Platform", package: "SwiftVMM")],
                          swiftSettings: library),
        .executableTarget(name: "fuzz-pci-config", dependencies: ["FuzzInput", .product(name: "PCI", package: "SwiftVMM"),
                                                                  .product(name: "Devices", package: "SwiftVMM")],
                          swiftSettings: library),
        .executableTarget(name: "fuzz-trace-replay", dependencies: [.product(name: "MSIXReplay", package: "SwiftVMM")],
                          swiftSettings: library),
        .executableTarget(name: "fuzz-pc-devices", dependencies: ["FuzzInput", .product(name: "MachineDevices", package: "SwiftVMM"),
                                                                  .product(name: "Devices", package: "SwiftVMM")],
                          swiftSettings: library),
    ],
    swiftLanguageModes: [.v6]
)
