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
    public var entries: [CPUIDEntry] {
        storage.withUnsafeBytes { raw in
            let n = Int(raw.load(as: kvm_cpuid2.self).nent)
            let start = MemoryLayout<kvm_cpuid2>.size
            // In bounds: the storage was sized by ckvm_cpuid2_size(capacity) and KVM sets nent <= capacity.
            return (0..<n).map { CPUIDEntry(raw.load(fromByteOffset: start + $0 * MemoryLayout<kvm_cpuid_entry2>.stride, as: kvm_cpuid_entry2.self)) }
        }
    }

    /// Rewrites every entry with `transform` (its leaf and subleaf are kept).
    public mutating func update(_ transform: (inout CPUIDEntry) -> Void) {
        let n = count
        let start = MemoryLayout<kvm_cpuid2>.size
        storage.withUnsafeMutableBytes { raw in
            for i in 0..<n {
                let offset = start + i * MemoryLayout<kvm_cpuid_entry2>.stride
                var entry = raw.load(fromByteOffset: offset, as: kvm_cpuid_entry2.self)
                var value = CPUIDEntry(entry)
                transform(&value)
                entry.eax = value.eax; entry.ebx = value.ebx; entry.ecx = value.ecx; entry.edx = value.edx
                raw.storeBytes(of: entry, toByteOffset: offset, as: kvm_cpuid_entry2.self)
            }
        }
    }
}

/// One CPUID leaf (and subleaf) as the guest reads it.
public struct CPUIDEntry: Sendable, Equatable {
    /// EAX on input (the leaf) and ECX on input (the subleaf, where the leaf has them).
    public let function: UInt32
    /// ECX on input: the subleaf, 0 for a leaf that has none.
    public let index: UInt32
    /// EAX as the guest's CPUID returns it for this leaf and subleaf.
    public var eax: UInt32
    /// EBX as the guest's CPUID returns it for this leaf and subleaf.
    public var ebx: UInt32
    /// ECX as the guest's CPUID returns it for this leaf and subleaf.
    public var ecx: UInt32
    /// EDX as the guest's CPUID returns it for this leaf and subleaf.
    public var edx: UInt32

    /// Makes an entry for leaf `function`, subleaf `index`; unspecified registers are 0.
    public init(function: UInt32, index: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function
        self.index = index
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    init(_ raw: kvm_cpuid_entry2) {
        self.init(function: raw.function, index: raw.index, eax: raw.eax, ebx: raw.ebx, ecx: raw.ecx, edx: raw.edx)
    }
}
