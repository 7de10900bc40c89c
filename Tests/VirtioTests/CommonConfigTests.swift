import Interrupts
import KVM
import Memory
import Testing
import TestSupport
import Virtio
import VirtioEntropy
import VirtioPCI

/// The common configuration structure read back through BAR0 (virtio 1.2 §4.1.4.3). A driver
/// reads each field with its own width, but any access must give each byte it covers that
/// byte of its field: here every offset and width, against the fields' values laid out byte
/// by byte, with every field but config_generation and queue_notify_off (0 for queue 0 of a
/// device with no configuration change) holding a value that is not 0.
@Suite(.enabled(if: kvmAvailable)) struct CommonConfigTests {
    let vm: KVMVirtualMachine
    let transport: VirtioPCIFunction

    init() throws {
        vm = try KVMSystem().createVirtualMachine()
        try vm.createIRQChip()
        transport = try VirtioPCIFunction(name: "virtio-rng", device: EntropyDevice(), memory: try GuestMemory(size: 1 << 20),
                                          vm: vm, routes: GSIRouteTable(vm: vm), log: { _ in })
    }

    func read(_ offset: UInt64, _ size: Int) -> UInt64 { transport.barRead(0, offset: VirtioPCILayout.common + offset, size: size) }
    func write(_ offset: UInt64, _ size: Int, _ value: UInt64) {
        transport.barWrite(0, offset: VirtioPCILayout.common + offset, size: size, value: value)
    }

    @Test func everyAccessReadsEachByteOfTheFieldsItCovers() {
        let desc: UInt64 = 0x1_2340, driver: UInt64 = 0x2_5670, device: UInt64 = 0x3_8A00
        write(0x00, 4, 1)                      // device_feature_select
        write(0x08, 4, 1)                      // driver_feature_select
        write(0x0C, 4, 1)                      // driver_feature: VERSION_1 (bit 32)
        write(0x10, 2, 0)                      // config_msix_vector 0
        write(0x14, 1, 3)                      // device_status ACKNOWLEDGE | DRIVER
        write(0x16, 2, 0)                      // queue_select 0
        write(0x18, 2, 128)                    // queue_size
        write(0x1A, 2, 1)                      // queue_msix_vector 1
        write(0x20, 8, desc)
        write(0x28, 4, driver)                 // queue_driver, by halves
        write(0x2C, 4, 0)
        write(0x30, 8, device)
        write(0x1C, 2, 1)                      // queue_enable
        // The fields as the specification lays them out: (offset, width, value).
        let fields: [(Int, Int, UInt64)] = [
            (0x00, 4, 1), (0x04, 4, transport.offeredFeatures >> 32), (0x08, 4, 1), (0x0C, 4, 1),
            (0x10, 2, 0), (0x12, 2, 1), (0x14, 1, 3), (0x15, 1, 0), (0x16, 2, 0), (0x18, 2, 128),
            (0x1A, 2, 1), (0x1C, 2, 1), (0x1E, 2, 0), (0x20, 8, desc), (0x28, 8, driver), (0x30, 8, device),
        ]
        var bytes = [UInt8](repeating: 0, count: 0x40)
        for (offset, width, value) in fields {
            for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        #expect(transport.offeredFeatures >> 32 & 1 == 1, "VERSION_1 is offered, so device_feature reads non-zero")
        for size in [1, 2, 4, 8] {
            for offset in 0...(0x40 - size) {
                let expected = littleEndian(bytes, at: offset, size: size)
                #expect(read(UInt64(offset), size) == expected, "a \(size)-byte read at 0x\(String(offset, radix: 16))")
            }
        }
        #expect(read(0x1C, 2) == 1, "the queue is enabled (its rings lie in RAM)")
    }

    @Test func aMissingQueueAndAMissingVectorReadAsTheSpecificationSays() {
        write(0x1A, 2, 7)                      // a vector the function does not have (it has 2)
        #expect(read(0x1A, 2) == 0xFFFF, "an out-of-range vector reads back as VIRTIO_MSI_NO_VECTOR")
        write(0x16, 2, 5)                      // no such queue
        #expect(read(0x18, 2) == 0 && read(0x1A, 2) == 0xFFFF && read(0x20, 8) == 0,
                "a queue that does not exist reads size 0 and no vector")
    }
}
