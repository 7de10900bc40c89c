/// Feature bits and device status bits of virtio 1.2 that belong to no one device.
public enum VirtioFeature {
    /// VIRTIO_F_INDIRECT_DESC (28): descriptors may point at tables of descriptors.
    public static let indirectDescriptors: UInt64 = 1 << 28
    /// VIRTIO_F_EVENT_IDX (29): used_event and avail_event suppress interrupts and notifications.
    public static let eventIndex: UInt64 = 1 << 29
    /// VIRTIO_F_VERSION_1 (32): a modern (virtio 1.x) device; a modern driver must accept it.
    public static let version1: UInt64 = 1 << 32
}

/// The device status field (virtio 1.2 §2.1).
public enum VirtioStatus {
    /// ACKNOWLEDGE: the driver found the device.
    public static let acknowledge: UInt8 = 1
    /// DRIVER: the driver knows how to drive it.
    public static let driver: UInt8 = 2
    /// DRIVER_OK: the driver is ready; the device serves its queues from now on.
    public static let driverOK: UInt8 = 4
    /// FEATURES_OK: the driver's features are accepted (the device clears it when not).
    public static let featuresOK: UInt8 = 8
    /// Set by the device when it met an error it cannot go on from (a bad queue or chain).
    public static let needsReset: UInt8 = 0x40
    /// FAILED: the driver gave up on the device.
    public static let failed: UInt8 = 0x80
}
