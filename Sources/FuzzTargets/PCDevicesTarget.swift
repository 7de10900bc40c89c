import Devices
import MachineDevices
import Threads

/// The pc machine's port devices without KVM (fw_cfg, COM1, the RTC, the ACPI PM registers,
/// pc-testdev), driven by every offset, size and value the input names. Invariants: fw_cfg's
/// signature reads "QEMU" whatever came before; COM1's line is high only when its interrupt is
/// enabled; pc-testdev never sets an IRQ line above 15.
extension FuzzTarget {
    static func pcDevices(_ bytes: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let console = ConsoleDevice(echo: false, transcriptLimit: 4096)
        let firmware = FirmwareConfig(ramSize: 64 << 20, cpus: 2, files: [("etc/e820", [UInt8](repeating: 7, count: 40))])
        let uart = Serial16550(console: console) { _ in }
        let clock = RealTimeClock { _ in }
        let power = ACPIPowerManagement { _ in }
        let badLine = Locked<Int?>(nil)
        let testdev = PCTestDevice(setIRQLine: { line, _ in if line >= 16 { badLine.withLock { $0 = $0 ?? Int(line) } } }, flushPage: { _ in })
        // Two unclaimed accesses logged per bus, not 8: building those messages was a fifth of
        // the target's time, and two still take both of the log's paths (a message, the last one).
        let ports = Bus(spaceName: "port", unclaimedLogLimit: 2), mmio = Bus(spaceName: "MMIO", unclaimedLogLimit: 2)
        try! ports.register(firmware, name: "fw_cfg", base: 0x510, size: FirmwareConfig.portCount)
        try! ports.register(uart, name: "com1", base: 0x3F8, size: 8)
        try! ports.register(clock, name: "rtc", base: 0x70, size: RealTimeClock.portCount)
        try! ports.register(power, name: "pm", base: 0x600, size: ACPIPowerManagement.portCount)
        try! testdev.register(portBus: ports, mmioBus: mmio)
        let bases: [UInt64] = [0x510, 0x3F8, 0x70, 0x600, 0xE0, 0x2000]
        var operations = 0
        while !input.isEmpty, operations < 4096 {
            operations += 1
            let op = input.u8(), size = input.size()
            let port = bases[Int(op >> 1) % bases.count] + UInt64(input.u8() & 0x1F)
            if op & 1 == 0 {
                _ = ports.read(port, size: size)
            } else {
                ports.write(port, size: size, value: input.u64())
            }
            if op == 0xFF { _ = mmio.read(PCTestDevice.memoryBase + UInt64(input.u16()), size: size) }
            if op == 0xFE { mmio.write(PCTestDevice.memoryBase + UInt64(input.u16()), size: size, value: input.u64()) }
        }
        if let line = badLine.withLock({ $0 }) { throw FuzzFailure("pc-testdev set IRQ line \(line)") }
        firmware.write(offset: 0, size: 2, value: 0)
        let signature = (0..<4).map { _ in UInt8(firmware.read(offset: 1, size: 1)) }
        guard signature == Array("QEMU".utf8) else { throw FuzzFailure("fw_cfg signature \(signature)") }
        uart.write(offset: 3, size: 1, value: 0)  // DLAB off
        uart.write(offset: 1, size: 1, value: 0)  // all interrupts off
        guard !uart.lineIsHigh else { throw FuzzFailure("COM1's line is high with its interrupts disabled") }
    }
}
