import Devices
import PCI
import Threads

/// QEMU's `edu` teaching device (1234:11e8, revision 0x10), which kvm-unit-tests' intel_iommu
/// test drives through the IOMMU: BAR0 is 1 MiB of registers, and the device signals by INTx
/// (pin A) or by its MSI capability (one vector, 64-bit).
///
/// ```
///  0x00  identification 0x010000ed (RO)       0x04  liveness: reads the complement of the last write
///  0x08  factorial: a write computes n!       0x20  status: bit 0 computing (RO), bit 7 interrupt after factorial
///  0x24  interrupt status (RO)                0x60  interrupt raise: ORs the value in
///  0x64  interrupt acknowledge: clears bits   0x80  DMA source  0x88  DMA destination  0x90  DMA count
///  0x98  DMA command: bit 0 start, bit 1 direction (1: buffer to RAM), bit 2 interrupt 0x100 when done
/// ```
/// Registers below 0x80 take 4-byte accesses, from 0x80 4 or 8; others read all ones and ignore
/// writes, as QEMU's. The DMA buffer is 4 KiB at device address 0x40000; the RAM side is masked
/// to 28 bits (QEMU's default `dma_mask`). Where QEMU computes a factorial and moves DMA on
/// timers, this model completes both within the write (a guest polling the busy bits sees them
/// clear at once); a DMA outside the buffer, which stops QEMU, is refused and logged. DMA and
/// MSI need Bus Master Enable; INTx follows Interrupt Disable and stays low while MSI is on.
public final class EduDevice: PCIDeviceModel {
    /// The PCI vendor ID, 0x1234 (QEMU's).
    public static let vendorID: UInt16 = 0x1234
    /// The PCI device ID, 0x11E8.
    public static let deviceID: UInt16 = 0x11E8
    /// What register 0x00 reads: version 1.0 and 0xED.
    public static let identification: UInt32 = 0x0100_00ED
    /// The DMA buffer's device address.
    public static let bufferBase: UInt64 = 0x40000
    /// The DMA buffer's size in bytes.
    public static let bufferSize = 4096
    /// The DMA mask QEMU's edu applies to RAM addresses.
    public static let dmaMask: UInt64 = (1 << 28) - 1

    /// How the device reaches the machine: DMA by its requester ID (through the IOMMU when
    /// there is one), its MSI writes, and its INTx line.
    public struct Connections: Sendable {
        /// Reads `count` bytes of DMA at a bus address; nil when the IOMMU or RAM refuses.
        public var dmaRead: @Sendable (_ address: UInt64, _ count: Int) -> [UInt8]?
        /// Writes bytes by DMA at a bus address; false when refused.
        public var dmaWrite: @Sendable (_ bytes: [UInt8], _ address: UInt64) -> Bool
        /// Sends the MSI write the device's capability holds.
        public var sendMSI: @Sendable (_ address: UInt64, _ data: UInt32) -> Void
        /// Drives INTA#.
        public var setINTx: @Sendable (_ high: Bool) -> Void
        /// The four connections.
        public init(dmaRead: @escaping @Sendable (UInt64, Int) -> [UInt8]?, dmaWrite: @escaping @Sendable ([UInt8], UInt64) -> Bool,
                    sendMSI: @escaping @Sendable (UInt64, UInt32) -> Void, setINTx: @escaping @Sendable (Bool) -> Void) {
            self.dmaRead = dmaRead
            self.dmaWrite = dmaWrite
            self.sendMSI = sendMSI
            self.setINTx = setINTx
        }
    }

    struct State {
        var liveness: UInt32 = 0
        var factorial: UInt32 = 0
        var status: UInt32 = 0
        var interruptStatus: UInt32 = 0
        var source: UInt64 = 0
        var destination: UInt64 = 0
        var count: UInt64 = 0
        var command: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: EduDevice.bufferSize)
        var pciCommand: UInt16 = 0
        var msiEnabled = false
        /// The INTx level last driven.
        var intx = false
    }

    private let state = Locked(State())
    private let connections: Connections
    private let log: @Sendable (String) -> Void
    /// The MSI capability the function carries.
    public let msi: PCIMSICapability

    /// A device reaching the machine through `connections`; `log` gets a line for a DMA outside
    /// the buffer.
    public init(connections: Connections, log: @escaping @Sendable (String) -> Void) {
        self.connections = connections
        self.log = log
        let box = EduDeviceBox()
        msi = PCIMSICapability { enabled in box.device?.msiEnableChanged(enabled) }
        box.device = self
    }

    /// The PCI function: identity (class 0x00FF00, as QEMU's PCI_CLASS_OTHERS), BAR0, the MSI
    /// capability, interrupt pin A on `line` (the IOAPIC input the machine wires it to, also
    /// in the Interrupt Line register).
    public func makeFunction(line: UInt8) throws -> PCIFunction {
        var identity = PCIFunction.Identity(vendorID: Self.vendorID, deviceID: Self.deviceID, classCode: 0x00_FF00)
        identity.revision = 0x10
        identity.subsystemVendorID = 0x1AF4
        identity.subsystemID = 0x1100
        let function = PCIFunction(name: "edu", identity: identity, model: self)
        try function.defineBar(0, PCIBarDefinition(kind: .memory32, size: 1 << 20))
        _ = try function.addCapability(id: PCICapabilityID.msi, length: PCIMSICapability.length, handler: msi)
        function.setConfig(PCIRegister.interruptPin, size: 1, value: 1)
        function.setConfig(PCIRegister.interruptLine, size: 1, value: UInt32(line), writableMask: 0xFF)
        return function
    }

    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        guard bar == 0, offset < 0x80 ? size == 4 : (size == 4 || size == 8) else { return allOnes(size: size) }
        return state.withLock { s in
            let value: UInt64
            switch offset {
            case 0x00: value = UInt64(Self.identification)
            case 0x04: value = UInt64(s.liveness)
            case 0x08: value = UInt64(s.factorial)
            case 0x20: value = UInt64(s.status)
            case 0x24: value = UInt64(s.interruptStatus)
            case 0x80: value = s.source
            case 0x88: value = s.destination
            case 0x90: value = s.count
            case 0x98: value = s.command
            default: value = UInt64.max
            }
            return value & allOnes(size: size)
        }
    }

    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        guard bar == 0, offset < 0x80 ? size == 4 : (size == 4 || size == 8) else { return }
        let word = UInt32(truncatingIfNeeded: value)
        var effects = Effects()
        state.withLock { s in
            switch offset {
            case 0x04: s.liveness = ~word
            case 0x08:
                guard s.status & 1 == 0 else { return }
                s.factorial = Self.factorial(word)
                if s.status & 0x80 != 0 { raise(&s, 0x1, &effects) }
            case 0x20: s.status = (s.status & ~0x80) | (word & 0x80)
            case 0x60: raise(&s, word, &effects)
            case 0x64: lower(&s, word, &effects)
            case 0x80: s.source = value
            case 0x88: s.destination = value
            case 0x90: s.count = value
            case 0x98:
                guard value & 1 != 0, s.command & 1 == 0 else { return }
                s.command = value
                transfer(&s, &effects)
            default: break
            }
        }
        effects.run(connections)
    }

    public func commandChanged(_ command: UInt16) {
        var effects = Effects()
        state.withLock { s in
            s.pciCommand = command
            updateINTx(&s, &effects)
        }
        effects.run(connections)
    }

    func msiEnableChanged(_ enabled: Bool) {
        var effects = Effects()
        state.withLock { s in
            s.msiEnabled = enabled
            updateINTx(&s, &effects)
        }
        effects.run(connections)
    }

    /// n! modulo 2³², as QEMU's 32-bit loop computes it; from 34 on it is 0 (34! holds 2³²), so
    /// a guest's large n costs nothing.
    static func factorial(_ n: UInt32) -> UInt32 {
        guard n < 34 else { return 0 }
        var result: UInt32 = 1
        for k in stride(from: n, to: 0, by: -1) { result &*= k }
        return result
    }

    /// What a register write leaves to do outside the device's lock.
    struct Effects {
        var messages = 0
        var msi: (address: UInt64, data: UInt32)?
        var intx: Bool?

        func run(_ c: Connections) {
            if let intx { c.setINTx(intx) }
            if let msi { for _ in 0..<messages { c.sendMSI(msi.address, msi.data) } }
        }
    }

    private static func busMaster(_ s: State) -> Bool { s.pciCommand & PCICommand.busMaster != 0 }

    private func raise(_ s: inout State, _ bits: UInt32, _ effects: inout Effects) {
        s.interruptStatus |= bits
        guard s.interruptStatus != 0 else { return }
        if s.msiEnabled {
            if Self.busMaster(s), let message = msi.message {
                effects.msi = message
                effects.messages += 1
            }
        } else {
            updateINTx(&s, &effects)
        }
    }

    private func lower(_ s: inout State, _ bits: UInt32, _ effects: inout Effects) {
        s.interruptStatus &= ~bits
        updateINTx(&s, &effects)
    }

    private func updateINTx(_ s: inout State, _ effects: inout Effects) {
        let level = s.interruptStatus != 0 && !s.msiEnabled && s.pciCommand & PCICommand.interruptDisable == 0
        guard level != s.intx else { return }
        s.intx = level
        effects.intx = level
    }

    /// Runs the DMA the command asks for, within the write: buffer to RAM (direction bit set)
    /// or RAM to buffer, then clears the start bit and raises 0x100 if asked. Done under the
    /// device's lock so a second command cannot interleave.
    private func transfer(_ s: inout State, _ effects: inout Effects) {
        defer {
            s.command &= ~1
            if s.command & 4 != 0 { raise(&s, 0x100, &effects) }
        }
        let toRAM = s.command & 2 != 0
        let bufferAddress = toRAM ? s.source : s.destination
        guard let start = Self.bufferOffset(bufferAddress, count: s.count) else {
            log("edu: DMA of \(s.count) bytes at device address 0x\(String(bufferAddress, radix: 16)) leaves the 4 KiB buffer at 0x40000; refused")
            return
        }
        guard Self.busMaster(s) else { return }
        let count = Int(s.count)
        if toRAM {
            _ = connections.dmaWrite(Array(s.buffer[start..<start + count]), s.destination & Self.dmaMask)
        } else if let bytes = connections.dmaRead(s.source & Self.dmaMask, count), bytes.count == count {
            s.buffer.replaceSubrange(start..<start + count, with: bytes)
        }
    }

    /// The buffer offset of `[address, address + count)` when it lies in the buffer.
    static func bufferOffset(_ address: UInt64, count: UInt64) -> Int? {
        guard address >= bufferBase, count <= UInt64(bufferSize), address - bufferBase <= UInt64(bufferSize) - count else { return nil }
        return Int(address - bufferBase)
    }
}

/// Lets the MSI capability, made before the device, reach it without a cycle.
final class EduDeviceBox: @unchecked Sendable {
    // Unchecked: set once in EduDevice.init before the capability can be used.
    weak var device: EduDevice?
}
