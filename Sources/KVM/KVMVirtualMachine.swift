import CKVM
import Synchronization
import TextFormat

/// The VM scope: memory slots, the in-kernel irqchip and vCPU creation.
/// Interrupt plumbing (GSI routing, irqfd, ioeventfd, MSI) is in `KVMVirtualMachine+Interrupts.swift`.
public final class KVMVirtualMachine: Sendable {
    /// The `/dev/kvm` scope this VM was created from (for capability checks).
    public let system: KVMSystem
    /// The VM's descriptor (from KVM_CREATE_VM), closed when the last reference goes away.
    public let fd: OwnedFileDescriptor
    /// Forces failures of this VM's interrupt ioctls, for tests of error paths.
    public let faults = KVMFaultInjection()
    private let x2apicFeatures = Atomic<UInt64>(0)

    init(system: KVMSystem, fd: OwnedFileDescriptor) {
        self.system = system
        self.fd = fd
    }

    /// How KVM treats a memory slot.
    public struct MemoryFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// KVM records which pages the guest writes (read them with `dirtyLog`).
        public static let logDirtyPages = MemoryFlags(rawValue: UInt32(KVM_MEM_LOG_DIRTY_PAGES))
        /// Guest writes exit as MMIO instead of changing the memory (ROM); needs KVM_CAP_READONLY_MEM.
        public static let readOnly = MemoryFlags(rawValue: UInt32(KVM_MEM_READONLY))
    }

    /// Maps `size` bytes of host memory at `host` into the guest at `guestAddress` as `slot`
    /// (KVM_SET_USER_MEMORY_REGION); size 0 removes the slot. The caller keeps the host memory
    /// alive as long as the VM maps it.
    public func setUserMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer?,
                                    flags: MemoryFlags = []) throws {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: flags.rawValue, guest_phys_addr: guestAddress, memory_size: size,
            userspace_addr: UInt64(UInt(bitPattern: host)))
        _ = try withUnsafeMutablePointer(to: &region) {
            try checkedIoctl(fd.rawValue, CKVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION",
                             "for slot \(slot) (\(byteCount(size)) at \(hex(guestAddress)))", $0)
        }
    }

    /// The pages of `slot` (of `pages` pages) written since the last call, one bit per page,
    /// and clears KVM's record (KVM_GET_DIRTY_LOG). The slot must log dirty pages.
    public func dirtyLog(slot: UInt32, pages: Int) throws -> [UInt64] {
        // KVM writes a bitmap rounded up to 64-bit words.
        var bitmap = [UInt64](repeating: 0, count: max(1, (pages + 63) / 64))
        try bitmap.withUnsafeMutableBytes { bytes in
            var log = kvm_dirty_log()
            log.slot = slot
            log.dirty_bitmap = bytes.baseAddress
            _ = try checkedIoctl(fd.rawValue, CKVM_GET_DIRTY_LOG, "KVM_GET_DIRTY_LOG", "for slot \(slot)", &log)
        }
        return bitmap
    }

    /// Places the three-page TSS region Intel VMX needs (KVM_SET_TSS_ADDR).
    public func setTSSAddress(_ address: UInt64) throws {
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR", "at \(hex(address))", value: UInt(address))
    }

    /// Creates the in-kernel PIC, IOAPIC and per-vCPU LAPICs (KVM_CREATE_IRQCHIP). Must precede vCPU creation.
    /// It also installs the default GSI routes 0–23 to the PIC/IOAPIC pins.
    public func createIRQChip() throws {
        _ = try checkedIoctl(fd.rawValue, CKVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP", value: 0)
    }

    /// Keeps only the LAPICs in the kernel (KVM_ENABLE_CAP of KVM_CAP_SPLIT_IRQCHIP): the IOAPIC
    /// and the 8259s are the VMM's, and no in-kernel PIT can exist. GSIs below `reservedPins` are
    /// the VMM IOAPIC's: KVM scans their MSI routes for level-triggered vectors and exits with
    /// KVM_EXIT_IOAPIC_EOI when the guest ends one. Instead of `createIRQChip`, before vCPUs.
    public func enableSplitIRQChip(reservedPins: UInt32 = 24) throws {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(KVM_CAP_SPLIT_IRQCHIP)
        cap.args.0 = UInt64(reservedPins)
        _ = try checkedIoctl(fd.rawValue, CKVM_ENABLE_CAP, "KVM_ENABLE_CAP", "KVM_CAP_SPLIT_IRQCHIP with \(reservedPins) pins", &cap)
    }

    /// Creates the in-kernel i8254 PIT on ports 0x40–0x43 with its speaker port 0x61
    /// (KVM_CREATE_PIT2); its channel 0 drives GSI 0. Needs the irqchip first.
    public func createPIT() throws {
        var config = kvm_pit_config()
        _ = try checkedIoctl(fd.rawValue, CKVM_CREATE_PIT2, "KVM_CREATE_PIT2", "", &config)
    }

    /// Whether the PIT re-injects timer ticks the guest missed (KVM_REINJECT_CONTROL); QEMU's
    /// `kvm-pit.lost_tick_policy=discard` turns it off.
    public func setPITReinjection(_ on: Bool) throws {
        var control = kvm_reinject_control()
        control.pit_reinject = on ? 1 : 0
        _ = try checkedIoctl(fd.rawValue, CKVM_REINJECT_CONTROL, "KVM_REINJECT_CONTROL", on ? "on" : "off", &control)
    }

    /// Programs PIT channel 0 as a BIOS does (KVM_GET_PIT2, KVM_SET_PIT2): `count` (1…0x10000)
    /// in `mode` (2: rate generator, the 18.2 Hz tick with 0x10000), running now.
    public func startPITChannel0(count: UInt32, mode: UInt8) throws {
        var state = kvm_pit_state2()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_PIT2, "KVM_GET_PIT2", "", &state)
        ckvm_pit_set_channel0(&state, count, mode)
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_PIT2, "KVM_SET_PIT2", "channel 0 count \(count) mode \(mode)", &state)
    }

    /// PIT channel 0's reload count and mode (KVM_GET_PIT2).
    public func pitChannel0() throws -> (count: UInt32, mode: UInt8) {
        var state = kvm_pit_state2()
        _ = try checkedIoctl(fd.rawValue, CKVM_GET_PIT2, "KVM_GET_PIT2", "", &state)
        return (ckvm_pit_channel0_count(&state), ckvm_pit_channel0_mode(&state))
    }

    /// Leaves the in-kernel 8259 `chip` (0: master, 1: slave) as a BIOS does: initialised, its
    /// vectors from `vectorBase`, `mask` in its IMR (KVM_GET_IRQCHIP, then KVM_SET_IRQCHIP).
    public func initializePIC(_ chip: Int, vectorBase: UInt8, mask: UInt8) throws {
        var state = kvm_irqchip()
        state.chip_id = UInt32(chip == 0 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE)
        _ = try withUnsafeMutablePointer(to: &state) { try checkedIoctl(fd.rawValue, CKVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", "PIC \(chip)", $0) }
        ckvm_pic_initialise(&state, vectorBase, mask)
        _ = try withUnsafeMutablePointer(to: &state) { try checkedIoctl(fd.rawValue, CKVM_SET_IRQCHIP, "KVM_SET_IRQCHIP", "PIC \(chip)", $0) }
    }

    /// The vector base and mask of 8259 `chip` (0: master, 1: slave).
    public func picState(_ chip: Int) throws -> (vectorBase: UInt8, mask: UInt8) {
        var state = kvm_irqchip()
        state.chip_id = UInt32(chip == 0 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE)
        _ = try withUnsafeMutablePointer(to: &state) { try checkedIoctl(fd.rawValue, CKVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", "PIC \(chip)", $0) }
        return (ckvm_pic_base(&state), ckvm_pic_imr(&state))
    }

    /// Instructions whose exits KVM can leave to the guest (KVM_CAP_X86_DISABLE_EXITS): the
    /// guest then idles or spins on the host CPU itself, as QEMU's `-overcommit cpu-pm=on` has it.
    public struct GuestOwnedExits: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// MONITOR/MWAIT run in the guest instead of exiting (KVM_X86_DISABLE_EXITS_MWAIT).
        public static let mwait = GuestOwnedExits(rawValue: UInt32(KVM_X86_DISABLE_EXITS_MWAIT))
        /// HLT halts the host CPU in the guest instead of exiting (KVM_X86_DISABLE_EXITS_HLT).
        public static let hlt = GuestOwnedExits(rawValue: UInt32(KVM_X86_DISABLE_EXITS_HLT))
        /// PAUSE (spin-loop hint) no longer exits (KVM_X86_DISABLE_EXITS_PAUSE).
        public static let pause = GuestOwnedExits(rawValue: UInt32(KVM_X86_DISABLE_EXITS_PAUSE))
        /// The guest may enter deeper C-states itself (KVM_X86_DISABLE_EXITS_CSTATE).
        public static let cstate = GuestOwnedExits(rawValue: UInt32(KVM_X86_DISABLE_EXITS_CSTATE))
    }

    /// Stops KVM intercepting `exits` (KVM_ENABLE_CAP of KVM_CAP_X86_DISABLE_EXITS). Must precede
    /// vCPU creation; KVM refuses a set it cannot disable (see `KVMSystem.check(.disableExits)`).
    public func disableExits(_ exits: GuestOwnedExits) throws {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(KVM_CAP_X86_DISABLE_EXITS)
        cap.args.0 = UInt64(exits.rawValue)
        _ = try checkedIoctl(fd.rawValue, CKVM_ENABLE_CAP, "KVM_ENABLE_CAP", "KVM_CAP_X86_DISABLE_EXITS \(hex(UInt64(exits.rawValue)))", &cap)
    }

    /// Features of KVM's x2APIC API (KVM_CAP_X2APIC_API).
    public struct X2APICAPI: OptionSet, Sendable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// 32-bit APIC IDs: in KVM_GET/SET_LAPIC, and in MSI messages (routes and
        /// KVM_SIGNAL_MSI), whose address_hi bits 31:8 carry destination ID bits 31:8.
        public static let use32BitIDs = X2APICAPI(rawValue: UInt64(KVM_X2APIC_API_USE_32BIT_IDS))
        /// Destination 0xFF is not a broadcast in x2APIC mode (KVM's xAPIC-compatibility quirk off).
        public static let disableBroadcastQuirk = X2APICAPI(rawValue: UInt64(KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK))
    }

    /// Turns on KVM's x2APIC API features `features` (KVM_ENABLE_CAP of KVM_CAP_X2APIC_API); call
    /// before creating vCPUs. Needed for APIC IDs above 255: without it KVM takes 8-bit IDs only.
    public func enableX2APICAPI(_ features: X2APICAPI) throws {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(KVM_CAP_X2APIC_API)
        cap.args.0 = features.rawValue
        _ = try checkedIoctl(fd.rawValue, CKVM_ENABLE_CAP, "KVM_ENABLE_CAP", "KVM_CAP_X2APIC_API \(hex(features.rawValue))", &cap)
        x2apicFeatures.store(features.rawValue, ordering: .releasing)
    }

    /// The x2APIC API features enabled on this VM (empty until `enableX2APICAPI`).
    public var x2apicAPI: X2APICAPI { X2APICAPI(rawValue: x2apicFeatures.load(ordering: .acquiring)) }

    /// Makes the vCPU with KVM ID `id` the bootstrap processor (KVM_SET_BOOT_CPU_ID; the default
    /// is 0). Before any vCPU exists.
    public func setBootCPUID(_ id: UInt32) throws {
        _ = try checkedIoctl(fd.rawValue, CKVM_SET_BOOT_CPU_ID, "KVM_SET_BOOT_CPU_ID", "\(id)", value: UInt(id))
    }

    /// Creates vCPU `id` (KVM_CREATE_VCPU) and maps its `kvm_run` area.
    public func createVCPU(id: Int) throws -> KVMVCPU {
        let raw = try checkedIoctl(fd.rawValue, CKVM_CREATE_VCPU, "KVM_CREATE_VCPU", "for vCPU \(id)", value: UInt(id))
        let vcpuFD = OwnedFileDescriptor(owning: raw)
        return try KVMVCPU(id: id, fd: vcpuFD, runSize: system.vcpuMmapSize())
    }
}
