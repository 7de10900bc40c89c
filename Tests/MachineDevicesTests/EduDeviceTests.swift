@testable import MachineDevices
import Memory
import PCI
import Synchronization
import Testing
import TestSupport

/// QEMU's edu device: registers, DMA through the connections, INTx and MSI.
@Suite struct EduDeviceTests {
    final class Wires: Sendable {
        let msis = Mutex<[(UInt64, UInt32)]>([])
        let intx = Mutex<[Bool]>([])
        let ram: GuestMemory
        init() throws { ram = try GuestMemory(size: 1 << 20) }
    }

    func make() throws -> (EduDevice, PCIFunction, Wires) {
        let wires = try Wires()
        let memory = PhysicalMemory([PhysicalMemory.Region(base: 0, memory: wires.ram)])
        let edu = EduDevice(connections: EduDevice.Connections(
            dmaRead: { memory.read(at: $0, count: $1) },
            dmaWrite: { memory.write($0, at: $1) },
            sendMSI: { a, d in wires.msis.withLock { $0.append((a, d)) } },
            setINTx: { high in wires.intx.withLock { $0.append(high) } }), log: { _ in })
        let function = try edu.makeFunction(line: 17)
        return (edu, function, wires)
    }

    func command(_ function: PCIFunction, _ value: UInt16) {
        function.configWrite(offset: PCIRegister.command, size: 2, value: UInt32(value))
    }

    @Test func identityAndConfigSpace() throws {
        let (edu, function, _) = try make()
        #expect(function.configRead(offset: 0, size: 4) == 0x11E8_1234)
        #expect(function.configRead(offset: PCIRegister.revision, size: 1) == 0x10)
        #expect(function.configRead(offset: PCIRegister.interruptPin, size: 1) == 1, "INTA#")
        #expect(function.configRead(offset: PCIRegister.interruptLine, size: 1) == 17)
        let cap = Int(function.configRead(offset: PCIRegister.capabilitiesPointer, size: 1))
        #expect(function.configRead(offset: cap, size: 1) == 5, "MSI capability")
        #expect(function.configRead(offset: cap + 2, size: 2) & 0x80 != 0, "64-bit")
        #expect(edu.barRead(0, offset: 0, size: 4) == 0x0100_00ED)
        edu.barWrite(0, offset: 4, size: 4, value: 0x1234_5678)
        #expect(edu.barRead(0, offset: 4, size: 4) == 0xEDCB_A987, "liveness reads the complement")
        #expect(edu.barRead(0, offset: 0, size: 2) == 0xFFFF, "below 0x80 only 4-byte reads")
        #expect(edu.barRead(0, offset: 0x44, size: 4) == 0xFFFF_FFFF, "nothing at 0x44")
    }

    @Test func factorialIsComputedAtOnceAndRaisesWhenAsked() throws {
        let (edu, function, wires) = try make()
        command(function, PCICommand.busMaster)
        edu.barWrite(0, offset: 0x08, size: 4, value: 10)
        #expect(edu.barRead(0, offset: 0x08, size: 4) == 3_628_800)
        #expect(edu.barRead(0, offset: 0x20, size: 4) & 1 == 0, "not computing")
        #expect(EduDevice.factorial(13) == 1_932_053_504, "13! mod 2^32")
        #expect(EduDevice.factorial(33) != 0 && EduDevice.factorial(34) == 0 && EduDevice.factorial(.max) == 0)
        edu.barWrite(0, offset: 0x20, size: 4, value: 0x80)
        edu.barWrite(0, offset: 0x08, size: 4, value: 5)
        #expect(edu.barRead(0, offset: 0x24, size: 4) == 1, "factorial interrupt")
        #expect(wires.intx.withLock { $0 } == [true], "INTx raised")
        edu.barWrite(0, offset: 0x64, size: 4, value: 1)
        #expect(wires.intx.withLock { $0 } == [true, false], "acknowledged: lowered")
    }

    @Test func dmaBothWaysWithinTheBuffer() throws {
        let (edu, function, wires) = try make()
        try wires.ram.write([1, 2, 3, 4], at: 0x2000)
        func dma(from: UInt64, to: UInt64, count: UInt64, command: UInt64) {
            edu.barWrite(0, offset: 0x80, size: 8, value: from)
            edu.barWrite(0, offset: 0x88, size: 8, value: to)
            edu.barWrite(0, offset: 0x90, size: 8, value: count)
            edu.barWrite(0, offset: 0x98, size: 4, value: command)
        }
        dma(from: 0x2000, to: 0x40000, count: 4, command: 1)
        dma(from: 0x40000, to: 0x3000, count: 4, command: 3)
        #expect(try wires.ram.read(at: 0x3000, count: 4) == [0, 0, 0, 0], "no Bus Master Enable: no DMA")
        #expect(edu.barRead(0, offset: 0x98, size: 4) & 1 == 0, "the command still completes")
        command(function, PCICommand.busMaster)
        dma(from: 0x2000, to: 0x40000, count: 4, command: 1)
        dma(from: 0x40000, to: 0x1000_3000, count: 4, command: 3 | 4)
        #expect(try wires.ram.read(at: 0x3000, count: 4) == [1, 2, 3, 4], "RAM → buffer → RAM, the address masked to 28 bits")
        #expect(edu.barRead(0, offset: 0x24, size: 4) == 0x100, "DMA-done interrupt")
        dma(from: 0x2000, to: 0x40FFE, count: 4, command: 1)
        dma(from: 0x40FFC, to: 0x4000, count: 4, command: 3)
        #expect(try wires.ram.read(at: 0x4000, count: 4) == [0, 0, 0, 0], "a transfer leaving the buffer is refused")
        dma(from: 0x2000, to: 0x40000, count: 0xFFFF_FFFF_FFFF_FFFF, command: 1)
        #expect(edu.barRead(0, offset: 0x98, size: 4) & 1 == 0)
    }

    @Test func msiReplacesINTxWhenEnabled() throws {
        let (edu, function, wires) = try make()
        let cap = Int(function.configRead(offset: PCIRegister.capabilitiesPointer, size: 1))
        command(function, PCICommand.busMaster)
        edu.barWrite(0, offset: 0x60, size: 4, value: 4)
        #expect(wires.intx.withLock { $0 } == [true])
        function.configWrite(offset: cap + 4, size: 4, value: 0xFEE0_0050)
        function.configWrite(offset: cap + 8, size: 4, value: 0)
        function.configWrite(offset: cap + 12, size: 4, value: 0x22)
        function.configWrite(offset: cap + 2, size: 2, value: 1)
        #expect(wires.intx.withLock { $0 } == [true, false], "enabling MSI drops INTx")
        edu.barWrite(0, offset: 0x60, size: 4, value: 1)
        #expect(wires.msis.withLock { $0.count == 1 && $0[0] == (0xFEE0_0050, 0x22) })
        command(function, 0)
        edu.barWrite(0, offset: 0x60, size: 4, value: 1)
        #expect(wires.msis.withLock { $0.count } == 1, "no Bus Master Enable: no MSI")
        function.configWrite(offset: cap + 2, size: 2, value: 0)
        #expect(wires.intx.withLock { $0.last } == true, "MSI off with interrupts pending: INTx again")
        command(function, PCICommand.interruptDisable)
        #expect(wires.intx.withLock { $0.last } == false, "Interrupt Disable lowers INTx")
    }

    /// Any BAR traffic (guest-controlled): no crash, DMA never leaves the 1 MiB of RAM.
    @Test(arguments: testSeeds([31, 32, 33]))
    func randomRegisterTraffic(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let (edu, function, _) = try make()
        let offsets: [UInt64] = [0, 4, 8, 0x20, 0x24, 0x60, 0x64, 0x80, 0x88, 0x90, 0x98]
        for _ in 0..<50_000 {
            let offset = random.next() % 4 == 0 ? random.next() % (1 << 20) : offsets[Int(random.next() % UInt64(offsets.count))]
            let size = [1, 2, 4, 8][Int(random.next() % 4)]
            let value = random.next() % 2 == 0 ? random.next() : 0x40000 + random.next() % 0x2000
            if random.next() % 3 == 0 { _ = edu.barRead(0, offset: offset, size: size) } else { edu.barWrite(0, offset: offset, size: size, value: value) }
            if random.next() % 64 == 0 { command(function, UInt16(truncatingIfNeeded: random.next())) }
        }
        #expect(edu.barRead(0, offset: 0, size: 4) == 0x0100_00ED, "\(replayHint(seed))")
    }
}
