import TextFormat
/// One MSI message as a table entry holds it: a 64-bit address and 32-bit data.
///
/// On x86 the address is 0xFEEx_xxxx (destination APIC ID in bits 19:12) and the low byte of
/// the data is the interrupt vector; this module does not interpret either.
public struct MSIXMessage: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The guest-physical address the message is written to: Message Upper Address in bits
    /// 63:32, Message Address in bits 31:0.
    public var address: UInt64
    /// The 32-bit Message Data written to `address`.
    public var data: UInt32

    /// A message writing `data` to `address`.
    public init(address: UInt64, data: UInt32) {
        self.address = address
        self.data = data
    }

    public var description: String { "MSI \(hex(address)) ← \(hex(data))" }
}
