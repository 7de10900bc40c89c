import Interrupts
import Testing
import TestSupport

/// Extended destination IDs: APIC ID bits 14:8 in MSI address bits 11:5 (KVM_FEATURE_MSI_EXT_DEST_ID),
/// moved to the upper address word for KVM's 32-bit APIC IDs.
@Suite struct ExtendedDestinationIDTests {
    /// The address a guest writes for `id` with the extended destination ID.
    static func guestAddress(_ id: UInt32) -> UInt64 {
        0xFEE0_0000 | UInt64(id & 0xFF) << 12 | UInt64((id >> 8) & 0x7F) << 5
    }

    @Test func apicID300GoesToTheUpperWord() {
        let address = Self.guestAddress(300)  // 0xFEE2C020: low byte 0x2C, bits 14:8 = 1
        #expect(address == 0xFEE2_C020)
        #expect(ExtendedDestinationID.kvmAddress(address) == 0x100_FEE2_C000)
        #expect(ExtendedDestinationID.destination(address) == 300)
    }

    @Test func addressesWithoutExtendedBitsAreLeftAlone() {
        for address: UInt64 in [0xFEE0_0000, 0xFEE2_C000, 0xFEEF_F00C, 0x1_0000_FEE0_0000] {
            #expect(ExtendedDestinationID.kvmAddress(address) == address)
        }
        // A remappable-format address (bit 4) and one with an upper word keep bits 11:5.
        #expect(ExtendedDestinationID.kvmAddress(0xFEE0_0FF0) == 0xFEE0_0FF0)
        #expect(ExtendedDestinationID.kvmAddress(0x200_FEE0_0FE0) == 0x200_FEE0_0FE0)
        #expect(ExtendedDestinationID.destination(0x200_FEE0_1000) == 0x201)
    }

    /// The upper word's bits 7:0 are reserved and KVM refuses a route or message that sets them,
    /// and a guest writes any upper word it likes: they never reach KVM.
    @Test func reservedUpperBitsAreCleared() {
        #expect(ExtendedDestinationID.kvmAddress(0xFF_FEE0_0000) == 0xFEE0_0000)
        #expect(ExtendedDestinationID.kvmAddress(0x1234_56FF_FEE0_1000) == 0x1234_5600_FEE0_1000)
        #expect(ExtendedDestinationID.kvmAddress(0xAB_FEE0_0FF0) == 0xFEE0_0FF0, "remappable format too")
    }

    /// Seeded: every APIC ID up to 32767 written with the extended ID reads back as itself, keeps
    /// the redirection-hint and destination-mode bits, and KVM gets bits 11:4 clear.
    @Test(arguments: testSeeds([1, 2, 3]))
    func everyIDUpTo32767RoundTrips(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let id = UInt32.random(in: 0...0x7FFF, using: &random)
            let modeBits = UInt64.random(in: 0...3, using: &random) << 2  // RH, DM
            let address = Self.guestAddress(id) | modeBits
            let kvm = ExtendedDestinationID.kvmAddress(address)
            #expect(ExtendedDestinationID.destination(address) == id, "id \(id), \(replayHint(seed))")
            #expect(kvm & 0xFF0 == 0 && kvm & 0xC == modeBits, "id \(id), \(replayHint(seed))")
            #expect(UInt32(truncatingIfNeeded: kvm >> 32) & 0xFF == 0, "address_hi bits 7:0 stay 0, \(replayHint(seed))")
        }
    }
}
