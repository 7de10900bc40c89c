import Devices
import Interrupts
import KVM
import MachineDevices
import Memory
import PCI
import Platform

/// A device, or a set of devices, that a caller adds to a machine (`MachineConfiguration.devices`).
///
/// `attach` runs once, on the thread that builds the machine, after the machine's own devices
/// are in place; it registers whatever it needs on the buses, the PCI root or the router it is
/// handed. If it throws, the machine is not built. `stop` runs after every vCPU has left, when a
/// run ends: stop backend threads, flush buffers.
public protocol MachineComponent: Sendable {
    /// Registers the component's devices on the parts in `machine`; called once, while the
    /// machine is built. An error thrown here is the error of `Machine.init`.
    func attach(to machine: MachineAssembly) throws
    /// Ends what the component runs (backend threads, buffers) once every vCPU has left, at the
    /// end of the machine's run.
    func stop()
}

extension MachineComponent {
    /// Does nothing: a component with nothing running needs no `stop`.
    public func stop() {}
}

/// What a `MachineComponent` is given to attach to: the parts of the machine being built.
public struct MachineAssembly: Sendable {
    /// The machine's layout (RAM, vCPUs, windows, ports).
    public let layout: MachineLayout
    /// The KVM virtual machine (for ioeventfds, irqfds, IRQ lines).
    public let vm: KVMVirtualMachine
    /// RAM at guest-physical 0.
    public let memory: GuestMemory
    /// The port I/O bus.
    public let portBus: Bus
    /// The MMIO bus (guest-physical addresses).
    public let mmioBus: Bus
    /// PCI bus 0; `pci.nextFreeDevice()` gives the next free slot.
    public let pci: PCIRoot
    /// The GSI routing table MSI vectors share.
    public let routes: GSIRouteTable
    /// The machine's console (its transcript), for a device that prints.
    public let console: ConsoleDevice
    /// The machine's diagnostics, rate-limited: safe for messages a guest can cause repeatedly.
    public let log: @Sendable (String) -> Void
}

/// The VMM's own devices, each of which a configuration may leave out (to put a device of its
/// own at that place, for example).
public struct StandardDevices: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The 8250-style console at `layout.consolePort`.
    public static let console = StandardDevices(rawValue: 1 << 0)
    /// The exit port at `layout.exitPort`.
    public static let exitPort = StandardDevices(rawValue: 1 << 1)
    /// The probe device's ports and MMIO page.
    public static let probe = StandardDevices(rawValue: 1 << 2)
    /// Every standard device: the console, the exit port and the probe (the default).
    public static let all: StandardDevices = [.console, .exitPort, .probe]
}
