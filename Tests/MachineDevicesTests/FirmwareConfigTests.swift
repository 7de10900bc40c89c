import MachineDevices
import Synchronization
import Testing

@Suite struct FirmwareConfigTests {
    func read(_ device: FirmwareConfig, key: UInt16, count: Int) -> [UInt8] {
        device.write(offset: 0, size: 2, value: UInt64(key))
        return (0..<count).map { _ in UInt8(device.read(offset: 1, size: 1)) }
    }

    func little(_ bytes: [UInt8]) -> UInt64 { bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
    func big(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }

    @Test func itemsReadAsQEMUsDo() {
        let device = FirmwareConfig(ramSize: 256 << 20, cpus: 3, files: [("etc/e820", [1, 2, 3]), ("opt/test", Array("hello".utf8))])
        #expect(read(device, key: 0x00, count: 4) == Array("QEMU".utf8))
        #expect(little(read(device, key: 0x01, count: 4)) == 1, "ID: traditional interface, no DMA")
        #expect(little(read(device, key: 0x03, count: 8)) == 256 << 20)
        #expect(little(read(device, key: 0x05, count: 2)) == 3)
        #expect(little(read(device, key: 0x0F, count: 2)) == 3)
        #expect(read(device, key: 0x05, count: 4) == [3, 0, 0, 0], "past the end: zeroes")
        #expect(read(device, key: 0x11, count: 8) == [0, 0, 0, 0, 0, 0, 0, 0], "an unknown key reads 0")
        device.write(offset: 0, size: 2, value: 0x03)
        #expect(device.read(offset: 1, size: 4) == (256 << 20) & 0xFFFF_FFFF, "a wider read takes bytes in order")
        device.write(offset: 1, size: 1, value: 0xFF)  // ignored
        #expect(read(device, key: 0x00, count: 4) == Array("QEMU".utf8), "reselecting starts over")

        let directory = read(device, key: 0x19, count: 4 + 2 * 64)
        #expect(big(directory[0..<4]) == 2)
        #expect(big(directory[4..<8]) == 3 && big(directory[8..<10]) == 0x20)
        #expect(String(decoding: directory[12..<68].prefix { $0 != 0 }, as: UTF8.self) == "etc/e820")
        #expect(big(directory[68..<72]) == 5 && big(directory[72..<74]) == 0x21)
        #expect(String(decoding: directory[76..<132].prefix { $0 != 0 }, as: UTF8.self) == "opt/test")
        #expect(read(device, key: 0x21, count: 5) == Array("hello".utf8))
    }
}

@Suite struct Serial16550Tests {
    @Test func theTransmitterEmptyInterruptFollowsIERAndIIR() {
        let console = ConsoleDevice(echo: false)
        let levels = Mutex<[Bool]>([])
        let uart = Serial16550(console: console) { level in levels.withLock { $0.append(level) } }
        func seen() -> [Bool] { levels.withLock { $0 } }
        #expect(uart.read(offset: 5, size: 1) == 0x60, "LSR: transmitter empty, no data")
        #expect(uart.read(offset: 2, size: 1) == 0x01, "IIR: nothing pending")
        uart.write(offset: 0, size: 1, value: UInt64(UInt8(ascii: "A")))
        #expect(seen().isEmpty, "interrupts disabled: the line stays low")
        uart.write(offset: 1, size: 1, value: 0x02)  // IER: transmitter empty
        #expect(seen() == [true], "enabling it with the register empty raises the line")
        #expect(uart.read(offset: 2, size: 1) == 0x02, "IIR says why")
        #expect(seen() == [true, false], "reading IIR clears it")
        #expect(uart.read(offset: 2, size: 1) == 0x01)
        uart.write(offset: 0, size: 1, value: UInt64(UInt8(ascii: "\n")))
        #expect(seen() == [true, false, true], "each byte sent raises it again")
        uart.write(offset: 1, size: 1, value: 0)
        #expect(seen().last == false, "disabling lowers it")
        #expect(console.transcript == "A\n")
        // The divisor latch hides THR and IER.
        uart.write(offset: 3, size: 1, value: 0x80)
        uart.write(offset: 0, size: 1, value: 0x01)
        uart.write(offset: 1, size: 1, value: 0x00)
        #expect(uart.read(offset: 0, size: 1) == 0x01 && uart.read(offset: 1, size: 1) == 0x00)
        uart.write(offset: 3, size: 1, value: 0x03)
        #expect(console.transcript == "A\n", "divisor writes are not output")
        uart.write(offset: 7, size: 1, value: 0x5A)
        #expect(uart.read(offset: 7, size: 1) == 0x5A, "scratch")
    }
}
