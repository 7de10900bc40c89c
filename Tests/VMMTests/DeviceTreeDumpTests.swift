import Foundation
import Testing
import TestSupport
import GuestSuite
import VMM
import Platform

/// `--dump-dtb` writes the blob guests get; `dtc` reads it back; guests find a moved machine
/// through it.
@Suite struct DeviceTreeDumpTests {
    /// Needs no KVM: the tree is a pure function of the configuration, so the dump works with a
    /// KVM device that does not exist.
    @Test func theDumpedBlobDecompilesAndDescribesTheMachineAsConfigured() throws {
        let path = NSTemporaryDirectory() + "vmm-dump-\(UUID().uuidString).dtb"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dump = runProcess(vmmExecutable, ["run", "--dump-dtb", path, "--vcpus", "2", "--memory", "128",
                                              "--ecam-base", "0xB0000000", "--mmio-window", "0x80000000:0x10000000",
                                              "--cmdline", "quiet n=7", "--kvm-device", "/dev/no-kvm-needed"])
        #expect(dump.status == 0, "\(dump.output)")
        let dtc = runProcess("/usr/bin/env", ["dtc", "-q", "-I", "dtb", "-O", "dts", path])
        #expect(dtc.status == 0, "dtc must be installed (device-tree-compiler): \(dtc.output)")
        let dts = dtc.output
        for line in [
            "memory@0 {", "reg = <0x00 0x00 0x00 0x8000000>;",
            "cpu@0 {", "cpu@1 {",
            "bootargs = \"quiet n=7\";", "stdout-path = \"/isa/serial@3f8\";",
            "pci@b0000000 {", "compatible = \"pci-host-ecam-generic\";", "device_type = \"pci\";",
            "reg = <0x00 0xb0000000 0x00 0x100000>;", "bus-range = <0x00 0x00>;",
            "ranges = <0x1000000 0x00 0xc000 0x00 0xc000 0x00 0x4000 0x2000000 0x00 0x80000000 0x00 0x80000000 0x00 0x10000000>;",
            "serial@3f8 {", "compatible = \"ns16550a\";",
            "compatible = \"intel,ce4100-ioapic\";", "compatible = \"intel,ce4100-lapic\";",
            "compatible = \"swift-vmm,exit-port\";",
        ] {
            #expect(dts.contains(line), "\(line) in:\n\(dts)")
        }
        #expect(dts.contains("/memreserve/"), "the VMM's reserved memory is in the reservation block")
    }

    /// `--dump-boot` writes the plan `vmm run` would apply (BootImage.swift's format), without KVM.
    @Test func aBootDumpHoldsThePlanOfTheImageOnItsMachine() throws {
        let path = NSTemporaryDirectory() + "vmm-dump-\(UUID().uuidString).boot"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let dump = runProcess(vmmExecutable, ["run", guest("hello"), "--dump-boot", path, "--memory", "64",
                                              "--kvm-device", "/dev/no-kvm-needed"])
        #expect(dump.status == 0, "\(dump.output)")
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try #require(b.count > 56)
        func u64(_ o: Int) -> UInt64 { littleEndian(b, at: o) }
        #expect(Array(b[0..<8]) == Array("VMMBOOT1".utf8))
        #expect(u64(8) == 64 << 20, "RAM size")
        #expect(u64(16) & 0xFFFF_FFFF == 1, "our ELF64 guest starts in long mode")
        #expect(u64(24) >= BootLayout.guestLoadBase, "its entry point lies in the guest's load area: \(u64(24))")
        let refused = runProcess(vmmExecutable, ["run", guest("hello"), "--dump-boot", "/nonexistent-dir/x.boot"])
        #expect(refused.status == 2 && refused.output.contains("cannot write /nonexistent-dir/x.boot"), "\(refused.output)")
    }

    @Test func aDumpOfABadLayoutIsRefusedWithOneLine() {
        let path = NSTemporaryDirectory() + "vmm-dump-\(UUID().uuidString).dtb"
        let dump = runProcess(vmmExecutable, ["run", "--dump-dtb", path, "--mmio-window", "0xFFF00000:0x100000"])
        #expect(dump.status == 2)
        #expect(dump.output.contains("KVM TSS at 0xfffbd000 (0x4000 bytes) overlaps PCI MMIO window at 0xfff00000"), "\(dump.output)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}

@Suite(.enabled(if: kvmAvailable)) struct MovedMachineTests {
    /// Every guest of the suite, on a machine whose ECAM, BAR window and RAM are all moved.
    @Test(arguments: suiteEntries.map(\.name))
    func guestsFindAMovedMachineThroughTheTree(name: String) throws {
        let entry = try #require(suiteEntries.first { $0.name == name })
        var configuration = quietConfiguration()
        configuration.layout.ecamBase = 0xB000_0000
        configuration.layout.mmioWindowBase = 0x8000_0000
        configuration.layout.mmioWindowSize = 0x1000_0000
        configuration.layout.ramSize = 128 << 20
        let result = SuiteRunner.runOne(entry, base: configuration, timeout: 60)
        #expect(result.passed, "\(name): \(result.status) \(result.message)\n\(result.transcript)")
    }
}
