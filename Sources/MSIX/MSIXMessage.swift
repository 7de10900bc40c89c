import TextFormat
/// One MSI message as a table entry holds it: a 64-bit address and 32-bit data.
///
/// On x86 the address is 0xFEEx_xxxx (destination APIC ID in bits 19:12) and the low byte of
/// the data is the interrupt vector; this module does not interpret either.
public struct MSIXMessage: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var address: UInt64
    public var data: UInt32

    public init(address: UInt64, data: UInt32) {
        self.address = address
        self.data = data
    }

    public var description: String { "MSI \(hex(address)) ← \(hex(data))" }
}
