import Foundation
@testable import Platform
import Testing

/// The ACPI tables, checked twice: by our own reading of the bytes (checksums, pointers), and by
/// ACPICA's disassembler (`iasl -d`, Debian's acpica-tools), whose reading of every field we
/// compare with what the machine has.
@Suite struct ACPITablesTests {
    let tables = ACPITables(ACPITables.Machine(apicIDs: [0, 1, 5, 300]))

    func table(_ signature: String) -> [UInt8] {
        let offset = Int(tables.addresses[signature]! - ACPITables.base)
        let length = signature == "RSD PTR " ? 36 : signature == "FACS" ? 64
            : Int(tables.bytes[(offset + 4)..<(offset + 8)].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        return Array(tables.bytes[offset..<(offset + length)])
    }

    func u32(_ b: [UInt8], _ at: Int) -> UInt64 { b[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    func u64(_ b: [UInt8], _ at: Int) -> UInt64 { b[at..<(at + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }

    @Test func checksumsAndPointersAreRight() {
        for signature in ["FACP", "APIC", "DSDT", "RSDT", "XSDT"] {
            #expect(table(signature).reduce(0, &+) == 0, "\(signature) checksum")
            #expect(String(decoding: table(signature)[0..<4], as: UTF8.self) == signature)
        }
        let rsdp = table("RSD PTR ")
        #expect(rsdp[0..<20].reduce(0, &+) == 0 && rsdp.reduce(0, &+) == 0, "both RSDP checksums")
        #expect(tables.rsdpAddress % 16 == 0 && (0xE_0000..<0x10_0000).contains(tables.rsdpAddress))
        #expect(UInt64(tables.bytes.count) + ACPITables.base <= 0x10_0000, "all of it in the BIOS area")
        #expect(u32(rsdp, 16) == tables.addresses["RSDT"] && u64(rsdp, 24) == tables.addresses["XSDT"])
        let rsdt = table("RSDT"), xsdt = table("XSDT")
        #expect([u32(rsdt, 36), u32(rsdt, 40)] == [tables.addresses["FACP"]!, tables.addresses["APIC"]!])
        #expect([u64(xsdt, 36), u64(xsdt, 44)] == [tables.addresses["FACP"]!, tables.addresses["APIC"]!])
        let fadt = table("FACP")
        #expect(u32(fadt, 36) == tables.addresses["FACS"] && u32(fadt, 40) == tables.addresses["DSDT"])
        #expect(u64(fadt, 132) == tables.addresses["FACS"] && u64(fadt, 140) == tables.addresses["DSDT"])
        #expect(tables.addresses["FACS"]! % 64 == 0)
    }

    /// `iasl -d` reads each table back; the fields it prints are the machine's. Scripts/setup.sh
    /// installs acpica-tools; without it the test says so and, in CI (VMM_REQUIRE_KVM=1, set by
    /// .ci/run), fails rather than skip.
    @Test func iaslReadsTheTablesBack() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/iasl") else {
            if ProcessInfo.processInfo.environment["VMM_REQUIRE_KVM"] == "1" {
                Issue.record("iasl is not installed (Debian's acpica-tools; Scripts/setup.sh installs it)")
            } else {
                print("ACPITablesTests: iasl is not installed; skipping its check (apt-get install acpica-tools)")
            }
            return
        }
        let directory = NSTemporaryDirectory() + "vmm-acpi-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var text: [String: String] = [:]
        for (signature, file) in [("FACP", "facp"), ("APIC", "apic"), ("DSDT", "dsdt"), ("XSDT", "xsdt"), ("RSDT", "rsdt"), ("FACS", "facs")] {
            let path = directory + "/" + file + ".dat"
            try Data(table(signature)).write(to: URL(fileURLWithPath: path))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/iasl")
            process.arguments = ["-d", path]
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "iasl -d \(file): \(output)")
            text[signature] = (try? String(contentsOfFile: directory + "/" + file + ".dsl", encoding: .utf8)) ?? ""
            #expect(!output.contains("Error") && !output.contains("Invalid"), "\(file): \(output)")
            #expect(!text[signature]!.contains("Invalid") && !text[signature]!.contains("Warning"), "\(file):\n\(text[signature]!)")
        }
        func has(_ signature: String, _ line: String) -> Bool {
            text[signature]!.split(separator: "\n").contains { $0.contains(line) }
        }
        let fadt = try #require(text["FACP"])
        #expect(has("FACP", "PM Timer Block Address : 00000608"), "\(fadt)")
        #expect(has("FACP", "PM1A Control Block Address : 00000604"))
        #expect(has("FACP", "SCI Interrupt : 0009"))
        #expect(has("FACP", "32-bit PM Timer (V1) : 1"), "\(fadt.split(separator: "\n").filter { $0.contains("Timer") })")
        let madt = try #require(text["APIC"])
        for id in ["00", "01", "05"] { #expect(has("APIC", "Local Apic ID : \(id)"), "\(madt)") }
        #expect(has("APIC", "Processor x2Apic ID : 0000012C"), "APIC ID 300 needs an x2APIC entry")
        #expect(has("APIC", "Address : FEC00000"))
        #expect(has("APIC", "Interrupt : 00000002"), "IRQ 0 → GSI 2")
        #expect(has("DSDT", "Name (_S3, Package (0x04)"), "\(text["DSDT"]!)")
        #expect(has("DSDT", "Name (_S5, Package (0x04)"))
        #expect(has("FACS", "Length : 00000040"))
    }

    /// A machine with a VT-d unit gets a DMAR (one DRHD for all of segment 0, the IOAPIC in its
    /// scope), listed by both root tables; iasl reads it back. Without 8259s the MADT says so.
    @Test func theDMARDescribesTheRemappingUnit() throws {
        var machine = ACPITables.Machine(apicIDs: [0, 1])
        machine.has8259s = false
        machine.remappingUnit = ACPITables.RemappingUnit(registerBase: 0xFED9_0000, interruptRemapping: true, x2APICOptOut: true)
        let tables = ACPITables(machine)
        let dmarAddress = try #require(tables.addresses["DMAR"])
        let offset = Int(dmarAddress - ACPITables.base)
        let length = Int(u32(tables.bytes, offset + 4))
        let dmar = Array(tables.bytes[offset..<(offset + length)])
        #expect(dmar.reduce(0, &+) == 0 && length == 48 + 24)
        #expect(dmar[36] == 47 && dmar[37] == 3, "48-bit width; INTR_REMAP and X2APIC_OPT_OUT")
        #expect(u64(dmar, 56) == 0xFED9_0000 && dmar[52] == 1, "register base, INCLUDE_PCI_ALL")
        #expect(Array(dmar[64..<72]) == [3, 8, 0, 0, 0, 0xFF, 0, 0], "the IOAPIC (ID 0) on bus 0xFF")
        let madtOffset = Int(tables.addresses["APIC"]! - ACPITables.base)
        #expect(u32(tables.bytes, madtOffset + 40) == 0, "no PCAT_COMPAT without 8259s")
        let xsdtOffset = Int(tables.addresses["XSDT"]! - ACPITables.base)
        #expect(u64(tables.bytes, xsdtOffset + 52) == dmarAddress, "the XSDT's third entry")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/iasl") else { return }  // the test above reports its absence
        let directory = NSTemporaryDirectory() + "vmm-dmar-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(dmar).write(to: URL(fileURLWithPath: directory + "/dmar.dat"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/iasl")
        process.arguments = ["-d", directory + "/dmar.dat"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = try String(contentsOfFile: directory + "/dmar.dsl", encoding: .utf8)
        let lines = text.split(separator: "\n")
        func has(_ line: String) -> Bool { lines.contains { $0.contains(line) } }
        #expect(process.terminationStatus == 0 && !text.contains("Invalid"), "\(text)")
        #expect(has("Host Address Width : 2F"), "\(text)")
        #expect(has("Register Base Address : 00000000FED90000"))
        #expect(has("Device Scope Type : 03"), "the IOAPIC scope")
    }
}
