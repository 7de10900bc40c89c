import Devices
import KVM
import PCI
import Threads

/// QEMU's `pci-testdev` (1b36:0005), which kvm-unit-tests' vmexit benchmark finds on PCI bus 0:
/// BAR0 is 4 KiB of memory, BAR1 256 I/O ports, and both show the header of the test chosen
/// last:
///
/// ```
///  0  test (write: stop the current test; a value 0…2 starts test BAR·3 + value)
///  1  width (1)     4  offset (u32)     8  data (u8)     12  count (u32)     16  name, NUL-terminated
/// ```
/// Once a test runs, writes of its data at its offset (in the same BAR) count. The "eventfd"
/// tests attach a KVM ioeventfd there (any value, or only the data value), so those writes never
/// exit and the count stays 0, as with QEMU; the others count on every exit. With no test
/// chosen the BARs read 0.
public final class PCITestDevice: PCIDeviceModel {
    /// The PCI vendor ID, 0x1B36 (Red Hat's, as QEMU gives it).
    public static let vendorID: UInt16 = 0x1B36
    /// The PCI device ID, 0x0005.
    public static let deviceID: UInt16 = 0x0005

    struct Test {
        let name: String
        let offset: UInt64
        let data: UInt8
        let eventfd: Eventfd
        enum Eventfd { case none, wildcard, datamatch }
    }

    static let tests: [Test] = [
        Test(name: "mmio-no-eventfd", offset: 2048, data: 0xFA, eventfd: .none),
        Test(name: "mmio-wildcard-eventfd", offset: 2049, data: 0xCE, eventfd: .wildcard),
        Test(name: "mmio-datamatch-eventfd", offset: 2050, data: 0xFA, eventfd: .datamatch),
        Test(name: "portio-no-eventfd", offset: 131, data: 0xFA, eventfd: .none),
        Test(name: "portio-wildcard-eventfd", offset: 132, data: 0xCE, eventfd: .wildcard),
        Test(name: "portio-datamatch-eventfd", offset: 133, data: 0xFA, eventfd: .datamatch),
    ]

    struct State {
        var current: Int?
        var count: UInt32 = 0
        var bars: [UInt64?] = [nil, nil]
        /// The ioeventfd attached for the current test, and where.
        var attached: (events: EventFD, address: UInt64)?
    }

    private let vm: KVMVirtualMachine
    private let log: @Sendable (String) -> Void
    private let state = Locked(State())

    /// A device whose "eventfd" tests attach their ioeventfds to `vm`; `log` gets a line when one
    /// cannot be attached (the test then counts by exits).
    public init(vm: KVMVirtualMachine, log: @escaping @Sendable (String) -> Void) {
        self.vm = vm
        self.log = log
    }

    /// The PCI function: identity, class "other" (0xFF0000), QEMU's subsystem IDs, the two BARs.
    public func makeFunction() throws -> PCIFunction {
        var identity = PCIFunction.Identity(vendorID: Self.vendorID, deviceID: Self.deviceID, classCode: 0xFF_0000)
        identity.subsystemVendorID = 0x1AF4
        identity.subsystemID = 0x1100
        let function = PCIFunction(name: "pci-testdev", identity: identity, model: self)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: 4096))
        try function.defineBar(1, PCIBarDefinition(kind: .io, size: 256))
        return function
    }

    /// Writes counted for the current test.
    public var count: UInt32 { state.withLock { $0.count } }

    /// A guest read of either BAR: the current test's header bytes from `offset` (both BARs show
    /// the same header), 0 past the name's NUL and while no test is chosen.
    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        state.withLock { s in
            guard let current = s.current else { return 0 }
            if let attached = s.attached { _ = try? attached.events.consume() }
            let test = Self.tests[current]
            var value: UInt64 = 0
            for i in 0..<min(size, 8) {
                let (at, overflow) = offset.addingReportingOverflow(UInt64(i))
                guard !overflow, let byte = Self.headerByte(test, count: s.count, at: at) else { break }
                value |= UInt64(byte) << (8 * UInt64(i))
            }
            return value
        }
    }

    /// A guest write: at offset 0 it ends the current test and, for a value 0…2, starts test
    /// `bar`·3 + value with count 0. At the current test's offset in its own BAR it counts a
    /// 1-byte write of the test's data value (any write, for a wildcard test).
    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        state.withLock { s in
            if offset == 0 {
                detach(&s)
                s.current = nil
                guard value < 3, bar < 2 else { return }
                s.current = bar * 3 + Int(value)
                s.count = 0
                attach(&s)
                return
            }
            guard let current = s.current, current / 3 == bar else { return }
            let test = Self.tests[current]
            guard offset == test.offset else { return }
            if test.eventfd == .wildcard || (size == 1 && UInt8(truncatingIfNeeded: value) == test.data) { s.count &+= 1 }
        }
    }

    public func barMoved(_ bar: Int, to address: UInt64?) {
        state.withLock { s in
            guard bar < 2 else { return }
            detach(&s)
            s.bars[bar] = address
            attach(&s)
        }
    }

    /// Attaches the current test's ioeventfd, if it has one and its BAR is mapped.
    private func attach(_ s: inout State) {
        guard let current = s.current, Self.tests[current].eventfd != .none, let base = s.bars[current / 3] else { return }
        let test = Self.tests[current]
        do {
            let events = try EventFD(nonblocking: true)
            let address = base + test.offset
            try vm.attachIOEventFD(events, address: address, length: 1, port: current >= 3,
                                   datamatch: test.eventfd == .datamatch ? UInt64(test.data) : nil)
            s.attached = (events, address)
        } catch {
            log("pci-testdev: \(test.name) runs without an ioeventfd: \(error)")
        }
    }

    private func detach(_ s: inout State) {
        guard let attached = s.attached, let current = s.current else { return }
        let test = Self.tests[current]
        try? vm.attachIOEventFD(attached.events, address: attached.address, length: 1, port: current >= 3,
                                datamatch: test.eventfd == .datamatch ? UInt64(test.data) : nil, deassign: true)
        s.attached = nil
    }

    /// Byte `index` of a test's header, or nil past its name's NUL. Computed in place: reads
    /// are on the exit path and allocate nothing.
    static func headerByte(_ test: Test, count: UInt32, at index: UInt64) -> UInt8? {
        switch index {
        case 1: return 1  // width
        case 4..<8: return UInt8(truncatingIfNeeded: test.offset >> (8 * (index - 4)))
        case 8: return test.data
        case 12..<16: return UInt8(truncatingIfNeeded: count >> UInt32(8 * (index - 12)))
        case 0..<16: return 0
        default:
            let name = test.name.utf8
            guard index - 16 <= UInt64(name.count) else { return nil }
            let at = Int(index - 16)
            return at == name.count ? 0 : name[name.index(name.startIndex, offsetBy: at)]
        }
    }
}
