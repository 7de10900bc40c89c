import MachineDevices
import TextFormat

/// The part of `qemu-system-x86_64`'s command line that kvm-unit-tests' `run_tests.sh` and
/// `x86/run` pass, parsed into what a `vmm` pc machine needs. Anything else is refused with one
/// line naming the option, so a harness that probes the command sees a clean failure.
///
/// Accepted (each also with two dashes): `-nodefaults`, `-no-reboot`, `-display none`,
/// `-nographic`, `-serial stdio|none|null`, `-machine`/`-M` (`pc`, `q35`, `accel=kvm`, `pit=on|off`,
/// `kernel-irqchip=on|split`),
/// `-enable-kvm`, `-accel kvm`, `-cpu MODEL[,+feature,-feature,vendor=…,host-phys-bits]` (MODEL: qemu64, kvm64,
/// max, host, Opteron_G1, Skylake-Server), `-smp N[,cpus=N]`,
/// `-m SIZE`, `-kernel FILE`, `-initrd FILE[,FILE…]`, `-append TEXT`, `-device pc-testdev`,
/// `-device pci-testdev`, `-device isa-debug-exit[,iobase=…,iosize=…]`, `-device edu`,
/// `-device intel-iommu[,intremap=on|off,eim=on|off]` (q35 only), `-device ?|help`,
/// `-global kvm-pit.lost_tick_policy=discard|delay`, `-overcommit cpu-pm=on|off`, `-h`/`--help`, `-version`.
public struct QEMUCommandLine: Sendable, Equatable {
    /// `-kernel FILE`: the path of the Multiboot or PVH kernel to boot; nil when not given
    /// (`vmm-qemu` then refuses to run).
    public var kernel: String?
    /// `-initrd FILE[,FILE…]`: paths of the modules handed to the kernel, in order; each
    /// `-initrd` adds its comma-separated list.
    public var initrds: [String] = []
    /// `-append TEXT`: the kernel command line (default empty).
    public var append = ""
    /// `-m`: RAM in MiB, 1…`maximumMemoryMiB` (default 128). `-m` takes a number of MiB, or
    /// of GiB with a `G` suffix (`M` is also accepted; either case), optionally after `size=`.
    public var memoryMiB: UInt64 = 128
    /// `-smp N` or `-smp cpus=N`: the number of vCPUs, 1…64 (default 1).
    public var cpus = 1
    /// `-cpu`: the CPU model and the features named after it (default `qemu64`, no changes).
    public var cpu = CPUModel()
    /// `-serial stdio` or `-nographic`: the guest's COM1 output is echoed to standard output
    /// (default false; `-serial none` or `null` clears it).
    public var serialToStdout = false
    /// `-no-reboot` was given. Recorded only: the machine cannot reboot, so a guest reset ends
    /// the run (status 0) either way.
    public var noReboot = false
    /// `-device pc-testdev`: the pc machine gets QEMU's pc-testdev (default false).
    public var testDevice = false
    /// `-device pci-testdev`: the pc machine gets QEMU's pci-testdev, 1b36:0005 (default false).
    public var pciTestDevice = false
    /// isa-debug-exit's ports, if the device is there.
    public var debugExit: (base: UInt16, size: UInt16)?
    /// Whether the machine has the in-kernel i8254 PIT: false after `-machine pit=off`.
    public var pit = true
    /// `-global kvm-pit.lost_tick_policy=`: true for `delay` (the default: the PIT re-injects
    /// ticks the guest missed), false for `discard`.
    public var pitReinjection = true
    /// `-overcommit cpu-pm=on`: HLT, PAUSE, MWAIT and C-state exits go to the guest where KVM can.
    public var cpuPM = false
    /// `-machine q35`: the machine QEMU calls q35, which alone may have `intel-iommu`. It is the
    /// same pc machine (its host bridge already reads Q35's 8086:29C0); no ICH9 devices.
    public var q35 = false
    /// `-machine kernel-irqchip=split`: the IOAPIC is the VMM's, KVM keeps only the LAPICs;
    /// the machine then has no PIT (QEMU's would be in userspace; this VMM has none).
    public var splitIRQChip = false
    /// `-device intel-iommu`: a VT-d unit, with interrupt remapping after `intremap=on` (which
    /// needs the split irqchip) and in x2APIC mode after `eim=on` (the default with `intremap=on`,
    /// as QEMU has it with a split irqchip).
    public var iommu: IntelIOMMU.Options?
    /// `-device edu`: QEMU's edu device (1234:11e8).
    public var eduDevice = false
    /// What to do instead of running a guest.
    public var action: Action = .run

    /// What a command line asks for: boot the kernel, or print something and exit.
    public enum Action: Sendable, Equatable {
        /// `run` boots the kernel (the default); `help` prints `QEMUCommandLine.help` (`-h`,
        /// `-help`, `--help`); `version` prints its first line (`-version`); `listDevices`
        /// prints `QEMUCommandLine.deviceList` (`-device ?` or `-device help`).
        case run, help, version, listDevices
    }

    /// `-cpu`: the model (KVM's supported CPUID, or a named model made of it) and the features that change it.
    public struct CPUModel: Sendable, Equatable {
        /// The model's name: `qemu64`, `kvm64`, `max` or `host` (KVM's supported CPUID as it
        /// is), or a key of `NamedCPUModel.all`.
        public var model = "qemu64"
        /// Features named with `+`, keys of `QEMUCommandLine.cpuFeatures`: each set only if KVM
        /// supports it.
        public var enabled: [String] = []
        /// Features named with `-`, keys of `QEMUCommandLine.cpuFeatures`: each cleared.
        public var disabled: [String] = []
        /// `vendor=NAME`: the 12-byte CPUID vendor string; nil keeps the host's.
        public var vendor: String?

        /// A `-cpu` value made of these parts (the parser checks them; this initializer does not).
        public init(model: String = "qemu64", enabled: [String] = [], disabled: [String] = [], vendor: String? = nil) {
            self.model = model
            self.enabled = enabled
            self.disabled = disabled
            self.vendor = vendor
        }
    }

    public static func == (a: QEMUCommandLine, b: QEMUCommandLine) -> Bool {
        a.kernel == b.kernel && a.initrds == b.initrds && a.append == b.append && a.memoryMiB == b.memoryMiB && a.cpus == b.cpus
            && a.cpu == b.cpu && a.serialToStdout == b.serialToStdout && a.noReboot == b.noReboot && a.testDevice == b.testDevice
            && a.pciTestDevice == b.pciTestDevice && a.debugExit?.base == b.debugExit?.base && a.debugExit?.size == b.debugExit?.size
            && a.pit == b.pit && a.pitReinjection == b.pitReinjection && a.cpuPM == b.cpuPM && a.action == b.action
            && a.q35 == b.q35 && a.splitIRQChip == b.splitIRQChip && a.iommu == b.iommu && a.eduDevice == b.eduDevice
    }

    /// The devices `-device ?` lists, in QEMU's format (kvm-unit-tests greps for `"pc-testdev"`).
    public static let deviceList = """
        name "edu", bus PCI
        name "intel-iommu", bus System, desc "Intel IOMMU (VT-d) DMA Remapping device"
        name "isa-debug-exit", bus ISA
        name "pc-testdev", bus ISA
        name "pci-testdev", bus PCI, desc "PCI Test Device"
        """

    /// RAM below 4 GiB ends at the PCI window (3 GiB); the rest is placed from 4 GiB up, as on a PC.
    public static let lowMemoryLimitMiB: UInt64 = 3072
    /// The largest `-m` taken: 1 TiB, what 40 physical address bits reach.
    public static let maximumMemoryMiB: UInt64 = 1 << 20

    /// The defaults of an empty command line: no kernel, 128 MiB, one vCPU, `qemu64`, no test
    /// devices and no isa-debug-exit, the PIT re-injecting missed ticks, action `.run`.
    public init() {}

    /// Parses `arguments` (without the program name). Throws `QEMUCommandLineError` naming the
    /// first option that cannot be taken.
    public init(_ arguments: [String]) throws(QEMUCommandLineError) {
        var rest = arguments[...]
        func value(_ option: String) throws(QEMUCommandLineError) -> String {
            guard let next = rest.popFirst() else { throw .missingValue(option) }
            return next
        }
        while let argument = rest.popFirst() {
            guard argument.hasPrefix("-") else { throw .unexpectedArgument(argument) }
            let option = argument.hasPrefix("--") ? String(argument.dropFirst()) : argument
            switch option {
            case "-nodefaults", "-enable-kvm": break
            case "-no-reboot": noReboot = true
            case "-nographic": serialToStdout = true
            case "-h", "-help": action = .help
            case "-version": action = .version
            case "-display":
                let v = try value(option)
                guard v == "none" else { throw .unsupportedValue(option, v) }
            case "-serial":
                let v = try value(option)
                switch v {
                case "stdio": serialToStdout = true
                case "none", "null": serialToStdout = false
                default: throw .unsupportedValue(option, v)
                }
            case "-accel":
                let v = try value(option)
                guard v == "kvm" else { throw .unsupportedValue(option, v) }
            case "-machine", "-M": try machine(try value(option))
            case "-cpu": try cpuModel(try value(option))
            case "-smp": try smp(try value(option))
            case "-m": try memory(try value(option))
            case "-kernel": kernel = try value(option)
            case "-initrd": initrds += try value(option).split(separator: ",").map(String.init)
            case "-append": append = try value(option)
            case "-device": try device(try value(option))
            case "-overcommit":
                for part in try value(option).split(separator: ",").map(String.init) {
                    switch part {
                    case "cpu-pm=on": cpuPM = true
                    case "cpu-pm=off", "mem-lock=off": break
                    default: throw .unsupportedValue(option, part)
                    }
                }
            case "-global":
                let v = try value(option)
                switch v {
                case "kvm-pit.lost_tick_policy=discard": pitReinjection = false
                case "kvm-pit.lost_tick_policy=delay": pitReinjection = true
                default: throw .unsupportedValue(option, v)
                }
            default: throw .unsupportedOption(argument)
            }
        }
        if iommu != nil && !q35 { throw .conflict("-device intel-iommu needs -machine q35") }
        if iommu?.interruptRemapping == true && !splitIRQChip {
            throw .conflict("-device intel-iommu,intremap=on needs -machine kernel-irqchip=split")
        }
    }

    private mutating func machine(_ text: String) throws(QEMUCommandLineError) {
        for part in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            switch part {
            case "pc", "accel=kvm", "pit=on", "type=pc", "kernel-irqchip=on": break
            case "q35", "type=q35": q35 = true
            case "pit=off": pit = false
            case "kernel-irqchip=split": splitIRQChip = true
            default: throw .unsupportedValue("-machine", part)
            }
        }
    }

    /// Features `-cpu` may name, and the CPUID bit each is.
    public static let cpuFeatures: [String: (leaf: UInt32, subleaf: UInt32, register: Character, bit: UInt32)] = [
        "x2apic": (1, 0, "c", 21), "tsc-deadline": (1, 0, "c", 24), "pcid": (1, 0, "c", 17), "vmx": (1, 0, "c", 5),
        "xsave": (1, 0, "c", 26), "invpcid": (7, 0, "b", 10), "umip": (7, 0, "c", 2), "pku": (7, 0, "c", 3),
        "smap": (7, 0, "b", 20), "smep": (7, 0, "b", 7), "la57": (7, 0, "c", 16), "rdpid": (7, 0, "c", 22),
        "svm": (0x8000_0001, 0, "c", 2), "rdtscp": (0x8000_0001, 0, "d", 27), "npt": (0x8000_000A, 0, "d", 0),
        "skinit": (0x8000_0001, 0, "c", 12),
    ]
    /// Models `-cpu` takes: KVM's CPUID as it is, or a named model (`NamedCPUModel.all`).
    static let cpuModels: Set<String> = Set(["qemu64", "max", "host", "kvm64"]).union(NamedCPUModel.all.keys)

    private mutating func cpuModel(_ text: String) throws(QEMUCommandLineError) {
        let parts = text.split(separator: ",").map(String.init)
        guard let model = parts.first, Self.cpuModels.contains(model) else { throw .unsupportedValue("-cpu", parts.first ?? text) }
        cpu = CPUModel(model: model)
        for part in parts.dropFirst() {
            if part.hasPrefix("+") || part.hasPrefix("-") {
                let name = String(part.dropFirst())
                guard Self.cpuFeatures[name] != nil else { throw .unsupportedValue("-cpu", part) }
                if part.hasPrefix("+") { cpu.enabled.append(name) } else { cpu.disabled.append(name) }
            } else if part == "host-phys-bits" || part == "host-phys-bits=on" {
                // KVM's supported CPUID already reports the host's physical address bits.
            } else if part.hasPrefix("vendor=") {
                let vendor = String(part.dropFirst(7))
                guard vendor.utf8.count == 12 else { throw .unsupportedValue("-cpu", part) }
                cpu.vendor = vendor
            } else {
                throw .unsupportedValue("-cpu", part)
            }
        }
    }

    private mutating func smp(_ text: String) throws(QEMUCommandLineError) {
        var count: Int?
        for part in text.split(separator: ",").map(String.init) {
            if let n = Int(part) { count = n } else if part.hasPrefix("cpus="), let n = Int(part.dropFirst(5)) { count = n } else {
                throw .unsupportedValue("-smp", part)
            }
        }
        guard let count, count >= 1, count <= 64 else { throw .unsupportedValue("-smp", text) }
        cpus = count
    }

    private mutating func memory(_ text: String) throws(QEMUCommandLineError) {
        var digits = text.hasPrefix("size=") ? String(text.dropFirst(5)) : text
        var scale: UInt64 = 1
        switch digits.last {
        case "M", "m": digits.removeLast()
        case "G", "g": digits.removeLast(); scale = 1024
        default: break
        }
        guard let n = UInt64(digits), n > 0, n.multipliedReportingOverflow(by: scale).overflow == false else {
            throw .unsupportedValue("-m", text)
        }
        guard n * scale <= Self.maximumMemoryMiB else { throw .memoryTooLarge(text, maximumMiB: Self.maximumMemoryMiB) }
        memoryMiB = n * scale
    }

    private mutating func device(_ text: String) throws(QEMUCommandLineError) {
        let parts = text.split(separator: ",").map(String.init)
        switch parts.first {
        case "?", "help":
            action = .listDevices
        case "pc-testdev" where parts.count == 1:
            testDevice = true
        case "pci-testdev" where parts.count == 1:
            pciTestDevice = true
        case "edu" where parts.count == 1:
            eduDevice = true
        case "intel-iommu":
            var remapping = false
            var eim: Bool?
            for part in parts.dropFirst() {
                switch part {
                case "intremap=on": remapping = true
                case "intremap=off": remapping = false
                case "eim=on": eim = true
                case "eim=off": eim = false
                default: throw .unsupportedValue("-device", part)
                }
            }
            if eim == true && !remapping { throw .conflict("-device intel-iommu,eim=on needs intremap=on") }
            iommu = IntelIOMMU.Options(interruptRemapping: remapping, extendedInterruptMode: eim ?? remapping)
        case "isa-debug-exit":
            var base: UInt16 = 0x501, size: UInt16 = 2
            for part in parts.dropFirst() {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, let n = Self.number(pair[1]), n <= 0xFFFF else { throw .unsupportedValue("-device", part) }
                switch pair[0] {
                case "iobase": base = UInt16(n)
                case "iosize": size = UInt16(n)
                default: throw .unsupportedValue("-device", part)
                }
            }
            guard (1...4).contains(size) else { throw .unsupportedValue("-device", "iosize=\(size)") }
            debugExit = (base, size)
        default:
            throw .unsupportedValue("-device", text)
        }
    }

    static func number(_ text: String) -> UInt64? {
        text.hasPrefix("0x") || text.hasPrefix("0X") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
    }
}

/// Why a QEMU command line cannot be taken; one line, naming the option.
public enum QEMUCommandLineError: Error, Equatable, CustomStringConvertible {
    /// An option this front end does not know, as it was given (e.g. `-bios`).
    case unsupportedOption(String)
    /// A known option (with one dash; `-M` reported as `-machine`) with a value, or one
    /// comma-separated part of it, that it does not take: the option, then that value.
    case unsupportedValue(String, String)
    /// The option (with one dash) ended the command line without its value.
    case missingValue(String)
    /// An argument that does not start with `-`, as given.
    case unexpectedArgument(String)
    /// `-m` asked for more than the pc machine takes: the value as given, then the limit in MiB.
    case memoryTooLarge(String, maximumMiB: UInt64)
    /// Options that do not go together, as one sentence naming them.
    case conflict(String)

    public var description: String {
        switch self {
        case let .unsupportedOption(o): "\(o): unsupported option"
        case let .unsupportedValue(o, v): "\(o) \(v): unsupported value"
        case let .missingValue(o): "\(o) needs a value"
        case let .unexpectedArgument(a): "\(a): unexpected argument (options start with -)"
        case let .memoryTooLarge(v, m): "-m \(v): more RAM than the pc machine takes (at most \(m) MiB)"
        case let .conflict(text): text
        }
    }
}
