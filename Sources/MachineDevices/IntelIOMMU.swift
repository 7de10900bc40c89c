import Devices
import Threads

/// An Intel VT-d DMA and interrupt remapping unit (QEMU's `intel-iommu`) at `base`, the place
/// Q35 gives it: one unit covering every PCI device, version 1.0.
///
/// What it offers (CAP and ECAP): 39- and 48-bit second-level tables (3 and 4 levels) with 2 MiB
/// and 1 GiB pages, 16-bit domain IDs, one fault recording register, queued invalidation,
/// pass-through contexts, and (with `interruptRemapping`) interrupt remapping, in x2APIC mode
/// too with `extendedInterruptMode`. Translations are walked afresh on every request and
/// nothing is cached, so every invalidation completes at once and the caching-mode bit is 0.
///
/// Registers (offsets from `base`; 32-bit and 64-bit accesses): VER 0x00, CAP 0x08, ECAP 0x10,
/// GCMD 0x18, GSTS 0x1C, RTADDR 0x20, CCMD 0x28, FSTS 0x34, FECTL/FEDATA/FEADDR/FEUADDR
/// 0x38–0x47, IQH 0x80, IQT 0x88, IQA 0x90, ICS 0x9C, IECTL/IEDATA/IEADDR/IEUADDR 0xA0–0xAF,
/// IRTA 0xB8, IVA and IOTLB at 0x200 and 0x208 (ECAP.IRO), the fault record at 0x220 (CAP.FRO).
/// Anything else reads 0 and ignores writes.
public final class IntelIOMMU: BusDevice {
    /// Where Q35 machines place the unit (QEMU's Q35_HOST_BRIDGE_IOMMU_ADDR).
    public static let base: UInt64 = 0xFED9_0000
    /// Its register page.
    public static let size: UInt64 = 0x1000

    /// `-device intel-iommu`'s properties that change what the guest sees.
    public struct Options: Sendable, Equatable {
        /// Interrupt remapping (ECAP.IR; QEMU's `intremap`).
        public var interruptRemapping = false
        /// x2APIC-mode remapping (ECAP.EIM; QEMU's `eim`), 32-bit destinations.
        public var extendedInterruptMode = false
        /// Options with interrupt remapping and x2APIC mode as given (both off by default).
        public init(interruptRemapping: Bool = false, extendedInterruptMode: Bool = false) {
            self.interruptRemapping = interruptRemapping
            self.extendedInterruptMode = extendedInterruptMode
        }
    }

    enum Register {
        static let version = 0x00, capability = 0x08, extendedCapability = 0x10
        static let globalCommand = 0x18, globalStatus = 0x1C, rootTable = 0x20, contextCommand = 0x28
        static let faultStatus = 0x34, faultEventControl = 0x38
        static let queueHead = 0x80, queueTail = 0x88, queueAddress = 0x90, completionStatus = 0x9C
        static let invalidationEventControl = 0xA0, interruptTable = 0xB8
        static let iotlbAddress = 0x200, iotlb = 0x208, faultRecord = 0x220
    }

    /// GCMD/GSTS bits.
    enum Global {
        static let translation: UInt32 = 1 << 31, rootPointer: UInt32 = 1 << 30, faultLog: UInt32 = 1 << 29
        static let writeBufferFlush: UInt32 = 1 << 27, queuedInvalidation: UInt32 = 1 << 26
        static let interruptRemapping: UInt32 = 1 << 25, interruptPointer: UInt32 = 1 << 24
        static let compatibilityFormat: UInt32 = 1 << 23
    }

    /// FSTS bits.
    enum FaultStatus {
        static let overflow: UInt32 = 1 << 0, pending: UInt32 = 1 << 1, queueError: UInt32 = 1 << 4
        static let writable = overflow | queueError | 1 << 5 | 1 << 6
    }

    struct EventRegisters {
        var control: UInt32 = 1 << 31  // IM: masked after reset
        var data: UInt32 = 0
        var address: UInt32 = 0
        var upperAddress: UInt32 = 0
        var message: (address: UInt64, data: UInt32) { (UInt64(upperAddress) << 32 | UInt64(address & ~3), data) }

        /// The dword at `offset` from the block's start (control, data, address, upper address);
        /// writes to the control go through `IntelIOMMU.unmask`.
        func dword(_ offset: Int) -> UInt32 {
            switch offset {
            case 0: control
            case 4: data
            case 8: address
            default: upperAddress
            }
        }

        mutating func setDword(_ offset: Int, _ value: UInt32) {
            switch offset {
            case 4: data = value
            case 8: address = value
            case 12: upperAddress = value
            default: break
            }
        }
    }

    struct State {
        var status: UInt32 = 0
        var rootTableRegister: UInt64 = 0
        var rootTable: UInt64 = 0
        var interruptTableRegister: UInt64 = 0
        var interruptTable: VTdTranslation.InterruptTable?
        var contextCommand: UInt64 = 0
        var faultStatus: UInt32 = 0
        var faultEvent = EventRegisters()
        var queueHead: UInt64 = 0
        var queueTail: UInt64 = 0
        var queueAddress: UInt64 = 0
        var completionStatus: UInt32 = 0
        var invalidationEvent = EventRegisters()
        var iotlbAddress: UInt64 = 0
        var iotlb: UInt64 = 0
        /// The one fault recording register: low and high quadwords (F is bit 63 of the high one).
        var faultRecord: (low: UInt64, high: UInt64) = (0, 0)
    }

    /// What the unit offers, as it was made.
    public let options: Options
    /// VER: 1.0.
    public static let version: UInt32 = 0x10
    /// CAP: ND = 6 (16-bit domain IDs), SAGAW = 39 and 48 bits, MGAW = 48 bits, FRO = 0x220,
    /// SLLPS = 2 MiB and 1 GiB, NFR = 0 (one record).
    public static let capability: UInt64 = 6 | 0b110 << 8 | UInt64(47) << 16 | UInt64(Register.faultRecord / 16) << 24 | 0b11 << 34
    /// ECAP: C (coherent walks), QI, PT, IRO = 0x200; IR and EIM as the options say.
    public var extendedCapability: UInt64 {
        1 | 1 << 1 | 1 << 6 | UInt64(Register.iotlbAddress / 16) << 8
            | (options.interruptRemapping ? 1 << 3 : 0) | (options.extendedInterruptMode ? 1 << 4 : 0)
    }

    private let memory: PhysicalMemory
    private let state = Locked(State())
    private let sendMSI: @Sendable (UInt64, UInt32) -> Void

    /// A unit whose tables live in `memory`; `sendMSI` delivers its fault and invalidation-event
    /// interrupts (which VT-d never remaps).
    public init(memory: PhysicalMemory, options: Options, sendMSI: @escaping @Sendable (UInt64, UInt32) -> Void) {
        self.memory = memory
        self.options = options
        self.sendMSI = sendMSI
    }

    // MARK: Requests

    /// Where DMA by requester `sid` to `iova` lands, and the last address of its page; nil (and
    /// the fault recorded) when the tables do not allow it. With translation off, `iova` itself.
    public func translateDMA(_ iova: UInt64, sid: UInt16, write: Bool) -> VTdTranslation.DMAResult? {
        let (on, root) = state.withLock { ($0.status & Global.translation != 0, $0.rootTable) }
        guard on else { return VTdTranslation.DMAResult(address: iova, pageEnd: iova | 0xFFF) }
        do {
            return try VTdTranslation.translateDMA(iova, sid: sid, write: write, rootTable: root, memory: memory)
        } catch {
            if !error.quiet { recordFault(error.reason, sid: sid, info: iova & ~0xFFF, write: write) }
            return nil
        }
    }

    /// Reads `count` bytes of DMA by `sid` from `iova`, page by page; nil on a fault.
    public func dmaRead(sid: UInt16, from iova: UInt64, count: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var at = iova
        while bytes.count < count {
            guard let page = translateDMA(at, sid: sid, write: false) else { return nil }
            let piece = Int(min(UInt64(count - bytes.count), page.pageEnd - page.address + 1))
            guard let part = memory.read(at: page.address, count: piece) else { return nil }
            bytes += part
            at &+= UInt64(piece)
        }
        return bytes
    }

    /// Writes `bytes` by DMA from `sid` at `iova`, page by page; false on a fault (pages before
    /// the fault are written, as a device's DMA would have been).
    @discardableResult
    public func dmaWrite(sid: UInt16, _ bytes: [UInt8], to iova: UInt64) -> Bool {
        var done = 0
        var at = iova
        while done < bytes.count {
            guard let page = translateDMA(at, sid: sid, write: true) else { return false }
            let piece = Int(min(UInt64(bytes.count - done), page.pageEnd - page.address + 1))
            guard memory.write(Array(bytes[done..<done + piece]), at: page.address) else { return false }
            done += piece
            at &+= UInt64(piece)
        }
        return true
    }

    /// An interrupt request (an MSI write of `data` to `address` by `sid`, nil for one that
    /// carries no requester) as it reaches the LAPICs: unchanged while remapping is off,
    /// remapped when on; nil when remapping blocks it, the fault recorded if `recordingFaults`
    /// (a caller that only looks ahead, with no request made, passes false).
    public func remapInterrupt(address: UInt64, data: UInt32, sid: UInt16?, recordingFaults: Bool = true) -> (address: UInt64, data: UInt32)? {
        let (on, latched, compatibility) = state.withLock {
            ($0.status & Global.interruptRemapping != 0, $0.interruptTable, $0.status & Global.compatibilityFormat != 0)
        }
        guard on else { return (address, data) }
        // IRE without a table latched (SIRTP): a table of no entries, so every handle faults.
        let table = latched ?? VTdTranslation.InterruptTable.empty
        do {
            return try VTdTranslation.remapInterrupt(address: address, data: data, sid: sid, table: table,
                                                     compatibilityAllowed: compatibility, memory: memory)
        } catch {
            let handle = (address >> 5) & 0x7FFF | ((address >> 2) & 1) << 15
            if recordingFaults && !error.quiet { recordFault(error.reason, sid: sid ?? 0, info: handle << 48, write: true) }
            return nil
        }
    }

    // MARK: Registers

    public func read(offset: UInt64, size: Int) -> UInt64 {
        guard offset < Self.size, size == 4 || size == 8, offset % 4 == 0 else { return 0 }
        return state.withLock { s in
            var value = UInt64(Self.dword(s, Int(offset), options: options, extended: extendedCapability))
            if size == 8 { value |= UInt64(Self.dword(s, Int(offset) + 4, options: options, extended: extendedCapability)) << 32 }
            return value
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard offset < Self.size, size == 4 || size == 8, offset % 4 == 0 else { return }
        var effects = Effects()
        state.withLock { s in
            setDword(&s, Int(offset), UInt32(truncatingIfNeeded: value), &effects)
            if size == 8 { setDword(&s, Int(offset) + 4, UInt32(truncatingIfNeeded: value >> 32), &effects) }
        }
        for message in effects.messages { sendMSI(message.address, message.data) }
    }

    /// What a register write does outside the lock.
    struct Effects {
        var messages: [(address: UInt64, data: UInt32)] = []
    }

    static func dword(_ s: State, _ offset: Int, options: Options, extended: UInt64) -> UInt32 {
        func half(_ value: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: offset % 8 == 0 ? value : value >> 32) }
        switch offset {
        case Register.version: return version
        case Register.capability, Register.capability + 4: return half(capability)
        case Register.extendedCapability, Register.extendedCapability + 4: return half(extended)
        case Register.globalStatus: return s.status
        case Register.rootTable, Register.rootTable + 4: return half(s.rootTableRegister)
        case Register.contextCommand, Register.contextCommand + 4: return half(s.contextCommand)
        case Register.faultStatus: return s.faultStatus | (s.faultRecord.high >> 63 != 0 ? FaultStatus.pending : 0)
        case Register.faultEventControl..<Register.faultEventControl + 16: return s.faultEvent.dword(offset - Register.faultEventControl)
        case Register.queueHead, Register.queueHead + 4: return half(s.queueHead)
        case Register.queueTail, Register.queueTail + 4: return half(s.queueTail)
        case Register.queueAddress, Register.queueAddress + 4: return half(s.queueAddress)
        case Register.completionStatus: return s.completionStatus
        case Register.invalidationEventControl..<Register.invalidationEventControl + 16:
            return s.invalidationEvent.dword(offset - Register.invalidationEventControl)
        case Register.interruptTable, Register.interruptTable + 4: return half(s.interruptTableRegister)
        case Register.iotlbAddress, Register.iotlbAddress + 4: return half(s.iotlbAddress)
        case Register.iotlb, Register.iotlb + 4: return half(s.iotlb)
        case Register.faultRecord, Register.faultRecord + 4: return half(s.faultRecord.low)
        case Register.faultRecord + 8, Register.faultRecord + 12: return half(s.faultRecord.high)
        default: return 0
        }
    }

    private func setDword(_ s: inout State, _ offset: Int, _ value: UInt32, _ effects: inout Effects) {
        func merged(_ old: UInt64) -> UInt64 {
            offset % 8 == 0 ? (old & 0xFFFF_FFFF_0000_0000) | UInt64(value) : (old & 0xFFFF_FFFF) | UInt64(value) << 32
        }
        switch offset {
        case Register.globalCommand: globalCommand(&s, value, &effects)
        case Register.rootTable, Register.rootTable + 4: s.rootTableRegister = merged(s.rootTableRegister) & ~0x7FF
        case Register.contextCommand, Register.contextCommand + 4:
            // ICC (bit 63) asks for an invalidation: nothing is cached, so it is done at once,
            // with the granularity asked for as the one performed (CAIG = CIRG).
            var command = merged(s.contextCommand)
            if command >> 63 != 0 { command = command & ~(1 << 63) & ~(3 << 59) | ((command >> 61) & 3) << 59 }
            s.contextCommand = command
        case Register.faultStatus:
            let hadQueueError = s.faultStatus & FaultStatus.queueError != 0
            s.faultStatus &= ~(value & FaultStatus.writable)
            // Cleared IQE: the queue goes on from the descriptor software fixed.
            if hadQueueError && s.faultStatus & FaultStatus.queueError == 0 { processQueue(&s, &effects) }
        case Register.faultEventControl: unmask(&s.faultEvent, value, &effects)
        case Register.faultEventControl + 4..<Register.faultEventControl + 16: s.faultEvent.setDword(offset - Register.faultEventControl, value)
        case Register.queueTail, Register.queueTail + 4:
            s.queueTail = merged(s.queueTail) & 0x7_FFF0
            processQueue(&s, &effects)
        case Register.queueAddress, Register.queueAddress + 4:
            // Software must not move the queue while it is enabled: such a write is ignored.
            if s.status & Global.queuedInvalidation == 0 { s.queueAddress = merged(s.queueAddress) & ~0x7F8 }
        case Register.completionStatus: s.completionStatus &= ~(value & 1)
        case Register.invalidationEventControl: unmask(&s.invalidationEvent, value, &effects)
        case Register.invalidationEventControl + 4..<Register.invalidationEventControl + 16:
            s.invalidationEvent.setDword(offset - Register.invalidationEventControl, value)
        case Register.interruptTable, Register.interruptTable + 4: s.interruptTableRegister = merged(s.interruptTableRegister) & ~0x7F0
        case Register.iotlbAddress, Register.iotlbAddress + 4: s.iotlbAddress = merged(s.iotlbAddress)
        case Register.iotlb, Register.iotlb + 4:
            // IVT (bit 63): done at once, IAIG (58:57) = IIRG (61:60).
            var command = merged(s.iotlb)
            if command >> 63 != 0 { command = command & ~(1 << 63) & ~(3 << 57) | ((command >> 60) & 3) << 57 }
            s.iotlb = command
        case Register.faultRecord + 12:
            if value & (1 << 31) != 0 { s.faultRecord = (0, 0) }  // F is write-1-to-clear
        default: break
        }
    }

    /// A GCMD write: each persistent bit (TE, QIE, IRE, CFI) becomes the status asked for; the
    /// one-shot SRTP and SIRTP latch the table registers and set RTPS and IRTPS.
    private func globalCommand(_ s: inout State, _ value: UInt32, _ effects: inout Effects) {
        var persistent = Global.translation | Global.queuedInvalidation
        if options.interruptRemapping { persistent |= Global.interruptRemapping | Global.compatibilityFormat }
        var status = (s.status & ~persistent) | (value & persistent)
        if status & Global.queuedInvalidation == 0 { s.queueHead = 0 }
        let queueEnabled = status & Global.queuedInvalidation != 0 && s.status & Global.queuedInvalidation == 0
        if value & Global.rootPointer != 0 {
            s.rootTable = s.rootTableRegister & ~0xFFF
            status |= Global.rootPointer
        }
        if value & Global.interruptPointer != 0, options.interruptRemapping {
            var table = VTdTranslation.InterruptTable(register: s.interruptTableRegister)
            if !options.extendedInterruptMode { table.extendedMode = false }
            s.interruptTable = table
            status |= Global.interruptPointer
        }
        s.status = status
        // Hardware fetches whenever IQH and IQT differ, from the moment the queue is enabled.
        if queueEnabled { processQueue(&s, &effects) }
    }

    /// An event control write: IM as written; clearing it sends an event left pending (IP).
    private func unmask(_ event: inout EventRegisters, _ value: UInt32, _ effects: inout Effects) {
        let masked = value & (1 << 31) != 0
        let pending = event.control & (1 << 30) != 0
        if !masked && pending {
            effects.messages.append(event.message)
            event.control = 0
        } else {
            event.control = (masked ? 1 << 31 : 0) | (pending ? 1 << 30 : 0)
        }
    }

    /// Raises an event interrupt: sent now unless masked, else left pending.
    private static func raise(_ event: inout EventRegisters, _ effects: inout Effects) {
        if event.control & (1 << 31) != 0 {
            event.control |= 1 << 30
        } else {
            effects.messages.append(event.message)
        }
    }

    /// Serves the invalidation queue from IQH to IQT: every invalidation completes at once, an
    /// invalidation wait writes its status and raises its interrupt as asked, and an unknown
    /// descriptor (or one the unit cannot read) stops the queue with FSTS.IQE.
    private func processQueue(_ s: inout State, _ effects: inout Effects) {
        guard s.status & Global.queuedInvalidation != 0, s.faultStatus & FaultStatus.queueError == 0 else { return }
        let entries = UInt64(256) << (s.queueAddress & 7)
        let base = s.queueAddress & ~0xFFF
        guard s.queueTail / 16 < entries else {
            queueError(&s, &effects)
            return
        }
        var served: UInt64 = 0
        while s.queueHead != s.queueTail && served < entries {
            let at = base &+ s.queueHead
            guard let low = memory.load64(at: at), let high = memory.load64(at: at &+ 8) else {
                queueError(&s, &effects)
                return
            }
            switch low & 0xF {
            case 1, 2, 3, 4: break  // context cache, IOTLB, device-TLB, interrupt entries: nothing is cached
            case 5:
                if low & (1 << 5) != 0 { memory.store32(UInt32(truncatingIfNeeded: low >> 32), at: high & ~3) }
                if low & (1 << 4) != 0 {
                    s.completionStatus |= 1
                    Self.raise(&s.invalidationEvent, &effects)
                }
            default:
                queueError(&s, &effects)
                return
            }
            s.queueHead = (s.queueHead + 16) % (entries * 16)
            served += 1
        }
    }

    /// Stops the queue with FSTS.IQE and raises the fault event (IQH stays at the descriptor).
    private func queueError(_ s: inout State, _ effects: inout Effects) {
        s.faultStatus |= FaultStatus.queueError
        Self.raise(&s.faultEvent, &effects)
    }

    /// Records a fault in the one fault recording register, or sets PFO when it is still full,
    /// and raises the fault event.
    private func recordFault(_ reason: VTdTranslation.Fault, sid: UInt16, info: UInt64, write: Bool) {
        var effects = Effects()
        state.withLock { s in
            if s.faultRecord.high >> 63 != 0 {
                s.faultStatus |= FaultStatus.overflow
                return
            }
            s.faultRecord = (info & ~0xFFF, UInt64(sid) | UInt64(reason.rawValue) << 32 | (write ? 0 : 1 << 62) | 1 << 63)
            Self.raise(&s.faultEvent, &effects)
        }
        for message in effects.messages { sendMSI(message.address, message.data) }
    }
}
