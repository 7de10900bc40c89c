import Interrupts
import KVM
import Memory
import Testing
import TestSupport
import Virtio
import VirtioEntropy
import VirtioPCI

/// The common configuration structure read back through BAR0 at every offset and width a driver
/// may use (virtio 1.2 §4.1.3.1: the driver accesses each field with its own width, but a read
/// covering several fields, or part of one, must still give each byte its field's).
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

    @Test func eachByteReadsAsItsFieldWhateverTheAccessCovers() {
        write(0x16, 2, 0)                                    // queue_select 0
        write(0x1A, 2, 1)                                    // queue_msix_vector 1 (of 2)
        write(0x20, 8, 0x1122_3344_5566_7788)                // queue_desc
        write(0x00, 4, 1)                                    // device_feature_select 1
        #expect(read(0x04, 4) & 1 == 1, "VERSION_1 is bit 32: bit 0 of the second feature word")
        #expect(read(0x12, 2) == 1, "num_queues")
        #expect(read(0x13, 1) == 0, "num_queues' upper byte")
        #expect(read(0x18, 2) == 256, "queue_size is the queue's maximum until the driver writes it")
        #expect(read(0x1A, 2) == 1)
        #expect(read(0x20, 8) == 0x1122_3344_5566_7788)
        #expect(read(0x20, 4) == 0x5566_7788 && read(0x24, 4) == 0x1122_3344, "queue_desc by halves")
        #expect(read(0x23, 2) == 0x4455, "an access inside one field, not at its start")
        // 0x10…0x17: config_msix_vector (none), num_queues, device_status, config_generation, queue_select.
        #expect(read(0x10, 8) == 0x0000_0000_0001_FFFF)
        #expect(read(0x16, 4) == 256 << 16, "queue_select 0 and queue_size 256, one access across two fields")
        write(0x1A, 2, 7)                                    // a vector the function does not have
        #expect(read(0x1A, 2) == 0xFFFF, "an out-of-range vector reads back as VIRTIO_MSI_NO_VECTOR")
        write(0x16, 2, 5)                                    // no such queue
        #expect(read(0x18, 2) == 0 && read(0x1A, 2) == 0xFFFF && read(0x20, 8) == 0,
                "a queue that does not exist reads size 0 and no vector")
        #expect(read(0x38, 4) == 0, "fields past queue_device read 0")
    }
}
