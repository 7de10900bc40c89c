/// Where a virtio-pci function of ours keeps its structures (virtio 1.2 §4.1.4), all in BAR0
/// (16 KiB, 32-bit memory), with the MSI-X table and PBA alone in BAR1:
///
/// ```
///  BAR0 0x0000  common configuration (64 bytes)
///       0x1000  ISR status (1 byte; a read clears it)
///       0x2000  device configuration (the device's own size)
///       0x3000  notifications: queue q at 0x3000 + 4·q (notify_off_multiplier 4)
/// ```
public enum VirtioPCILayout {
    /// BAR0's size.
    public static let barSize: UInt64 = 0x4000
    /// The BAR holding the MSI-X table and PBA.
    public static let msixBAR = 1
    /// Offsets in BAR0.
    public static let common: UInt64 = 0x0000, isr: UInt64 = 0x1000, device: UInt64 = 0x2000, notify: UInt64 = 0x3000
    /// Bytes of the common configuration structure (virtio 1.2's, with queue_notify_data and
    /// queue_reset, rounded up).
    public static let commonSize: UInt64 = 0x40
    /// Bytes between two queues' notification addresses.
    public static let notifyMultiplier: UInt32 = 4
    /// The MSI-X capability's offset in config space; the virtio capabilities follow.
    public static let msixCapabilityOffset = 0x40
    /// The PCI vendor ID of virtio devices.
    public static let vendorID: UInt16 = 0x1AF4
    /// A modern device's PCI device ID: 0x1040 + the virtio device ID.
    public static let deviceIDBase: UInt16 = 0x1040
    /// "No vector" in config_msix_vector and queue_msix_vector.
    public static let noVector: UInt16 = 0xFFFF
}

/// The common configuration structure's fields (virtio 1.2 §4.1.4.3), by offset.
enum CommonConfig {
    static let deviceFeatureSelect: UInt64 = 0x00, deviceFeature: UInt64 = 0x04
    static let driverFeatureSelect: UInt64 = 0x08, driverFeature: UInt64 = 0x0C
    static let configMSIXVector: UInt64 = 0x10, numQueues: UInt64 = 0x12
    static let deviceStatus: UInt64 = 0x14, configGeneration: UInt64 = 0x15
    static let queueSelect: UInt64 = 0x16, queueSize: UInt64 = 0x18, queueMSIXVector: UInt64 = 0x1A
    static let queueEnable: UInt64 = 0x1C, queueNotifyOff: UInt64 = 0x1E
    static let queueDesc: UInt64 = 0x20, queueDriver: UInt64 = 0x28, queueDevice: UInt64 = 0x30
    static let queueNotifyData: UInt64 = 0x38, queueReset: UInt64 = 0x3A
}

/// The cfg_type of a virtio vendor-specific capability.
enum VirtioCapabilityType: UInt8 {
    case common = 1, notify = 2, isr = 3, device = 4, pciConfig = 5
}
