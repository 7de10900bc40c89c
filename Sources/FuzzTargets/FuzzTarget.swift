/// The fuzz targets as plain functions over the input's bytes, so libFuzzer (`Fuzz/`, built by
/// `Scripts/fuzz.sh` with the sanitizers) and `swift test` (which replays the committed seeds and
/// every crash input ever found, `FuzzRegressionTests`) run the same code. A target returns when
/// the input behaved, and throws `FuzzFailure` naming the broken invariant; a trap is a failure
/// too (libFuzzer catches it, `swift test` stops).
public struct FuzzTarget: Sendable {
    /// The executable's name in `Fuzz/` and the folder name under `Fuzz/Corpus` and `Fuzz/Regressions`.
    public let name: String
    /// The target: runs on the input's bytes (any length, empty included), returns when the
    /// input behaved and throws `FuzzFailure` when an invariant broke.
    public let run: @Sendable ([UInt8]) throws(FuzzFailure) -> Void

    /// Every target, in the order `Scripts/fuzz.sh` runs them.
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "fuzz-boot-loaders", run: bootLoaders),
        FuzzTarget(name: "fuzz-pci-config", run: pciConfig),
        FuzzTarget(name: "fuzz-pc-devices", run: pcDevices),
        FuzzTarget(name: "fuzz-trace-replay", run: traceReplay),
        FuzzTarget(name: "fuzz-msix", run: msix),
        FuzzTarget(name: "fuzz-acpi-tables", run: acpiTables),
        FuzzTarget(name: "fuzz-device-tree", run: deviceTree),
        FuzzTarget(name: "fuzz-virtio-queues", run: virtioQueues),
        FuzzTarget(name: "fuzz-remapping", run: remapping),
    ]

    /// The target called `name`.
    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// libFuzzer's entry: runs target `name` on `size` bytes at `data`; a failure stops the
    /// process with its message (libFuzzer then saves the input as a crash).
    public static func libFuzzerEntry(_ name: String, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        guard let target = named(name) else { fatalError("no fuzz target \(name)") }
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try target.run(bytes)
        } catch {
            fatalError("\(name): \(error)")
        }
        return 0
    }
}

/// An invariant a target checks did not hold.
public struct FuzzFailure: Error, CustomStringConvertible {
    public let description: String
    /// A failure whose `description` names the invariant that broke (and the values involved).
    public init(_ description: String) { self.description = description }
}
