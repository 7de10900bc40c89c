#if canImport(Glibc)
import Glibc
#endif
import PCI
import Threads
import Virtio
import VirtioBlock
import VirtioEntropy
import VirtioPCI

/// A virtio device on the machine's PCI bus 0 (the next free slot), by the modern virtio-pci
/// transport: `MachineConfiguration.devices += [VirtioComponent.entropy()]`.
public final class VirtioComponent: MachineComponent {
    /// The device's name in log lines and its doorbell thread's name.
    public let name: String
    /// The PCI class code the function reports.
    public let classCode: UInt32
    private let makeDevice: @Sendable () throws -> any VirtioDevice
    private let attached = Locked<VirtioPCIFunction?>(nil)

    /// A component that makes its device with `makeDevice` when the machine is built (a
    /// failure there, such as a disk image that cannot be opened, fails the build).
    public init(name: String, classCode: UInt32, makeDevice: @escaping @Sendable () throws -> any VirtioDevice) {
        self.name = name
        self.classCode = classCode
        self.makeDevice = makeDevice
    }

    /// virtio-rng, fed by the host's `getrandom`.
    public static func entropy(name: String = "virtio-rng") -> VirtioComponent {
        VirtioComponent(name: name, classCode: EntropyDevice.classCode) { EntropyDevice() }
    }

    /// virtio-blk on the raw image at `path` (read-only when `readOnly`); the file is opened when
    /// the machine is built, and a missing or unreadable one fails the build with one line.
    public static func disk(path: String, readOnly: Bool, name: String = "virtio-blk") -> VirtioComponent {
        VirtioComponent(name: name, classCode: BlockDevice.classCode) {
            let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
            guard fd >= 0 else {
                throw VMMError.unreadableFile(kind: "disk image", path: path, reason: String(cString: strerror(errno)))
            }
            var info = stat()
            guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFBLK else {
                close(fd)
                throw VMMError.unreadableFile(kind: "disk image", path: path, reason: "not a regular file or block device")
            }
            var size = UInt64(info.st_size)
            if info.st_mode & S_IFMT == S_IFBLK { size = UInt64(lseek(fd, 0, SEEK_END)) }
            let serial = String(path.split(separator: "/").last ?? "disk")
            return BlockDevice(fd: fd, size: size, readOnly: readOnly, serial: serial)
        }
    }

    public func attach(to machine: MachineAssembly) throws {
        let transport = try VirtioPCIFunction(name: name, device: makeDevice(), memory: machine.memory, vm: machine.vm,
                                              routes: machine.routes, log: machine.log)
        guard let slot = machine.pci.nextFreeDevice() else { throw VMMError.layout("PCI bus 0 is full (\(name))") }
        try machine.pci.attach(transport.makeFunction(classCode: classCode), at: PCIAddress(device: slot))
        attached.withLock { $0 = transport }
    }

    public func stop() {
        attached.withLock { $0 }?.stop()
    }

    /// The transport, once the machine is built (its MSI-X counters, its status).
    public var transport: VirtioPCIFunction? { attached.withLock { $0 } }
}
