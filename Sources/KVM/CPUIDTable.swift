import CKVM

/// A `struct kvm_cpuid2` with its trailing entries, owned as raw bytes.
public struct CPUIDTable: Sendable {
    private var storage: [UInt8]

    init(capacity: UInt32) {
        storage = [UInt8](repeating: 0, count: ckvm_cpuid2_size(capacity))
        withHeader { $0.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent = capacity }
    }

    /// Calls `body` with a pointer to the `kvm_cpuid2` header (the storage is sized for its entries).
    mutating func withHeader<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
        storage.withUnsafeMutableBytes { body($0.baseAddress!) }
    }

    /// Number of valid entries.
    public var count: Int {
        storage.withUnsafeBytes { Int($0.load(as: kvm_cpuid2.self).nent) }
    }

    /// The entries as values.
    public var entries: [kvm_cpuid_entry2] {
        storage.withUnsafeBytes { raw in
            let n = Int(raw.load(as: kvm_cpuid2.self).nent)
            let start = MemoryLayout<kvm_cpuid2>.size
            // In bounds: the storage was sized by ckvm_cpuid2_size(capacity) and KVM sets nent <= capacity.
            return (0..<n).map { raw.load(fromByteOffset: start + $0 * MemoryLayout<kvm_cpuid_entry2>.stride, as: kvm_cpuid_entry2.self) }
        }
    }

    /// Rewrites every entry with `transform`.
    public mutating func update(_ transform: (inout kvm_cpuid_entry2) -> Void) {
        let n = count
        let start = MemoryLayout<kvm_cpuid2>.size
        storage.withUnsafeMutableBytes { raw in
            for i in 0..<n {
                let offset = start + i * MemoryLayout<kvm_cpuid_entry2>.stride
                var entry = raw.load(fromByteOffset: offset, as: kvm_cpuid_entry2.self)
                transform(&entry)
                raw.storeBytes(of: entry, toByteOffset: offset, as: kvm_cpuid_entry2.self)
            }
        }
    }
}
