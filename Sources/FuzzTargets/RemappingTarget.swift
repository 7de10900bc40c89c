import MachineDevices
import Memory
import PCI
import Threads

/// The split irqchip's IOAPIC, the VT-d unit and edu together, as a guest drives them: guest
/// RAM (tables, queues, DMA buffers) written with anything, VT-d's, the IOAPIC's and edu's
/// registers written and read with any offset, size and value, lines raised and lowered, EOIs,
/// and remapping requests from any requester. Invariants, after every operation: no IOAPIC
/// delivery for a masked pin, and no level-triggered pin delivered twice without an EOI; a
/// remappable request the unit remaps comes out in compatibility format at 0xFEEx_xxxx; FSTS.PPF
/// is the fault record's F bit; IQH stays a descriptor boundary inside the queue.
extension FuzzTarget {
    static let remappingRAMSize: UInt64 = 1 << 20

    static func remapping(_ bytes: [UInt8]) throws(FuzzFailure) {
        var input = FuzzInput(bytes)
        let first = input.u8()
        guard let ram = try? GuestMemory(size: remappingRAMSize) else { throw FuzzFailure("no memory for the target's RAM") }
        let memory = PhysicalMemory([PhysicalMemory.Region(base: 0, memory: ram)])
        let unit = IntelIOMMU(memory: memory, options: .init(interruptRemapping: true, extendedInterruptMode: first & 1 != 0)) { _, _ in }
        let broken = Locked<String?>(nil)
        @Sendable func fail(_ text: String) { broken.withLock { $0 = $0 ?? text } }
        @Sendable func remapChecked(_ address: UInt64, _ data: UInt32, sid: UInt16?) {
            let on = unit.read(offset: 0x1C, size: 4) & (1 << 25) != 0
            guard let out = unit.remapInterrupt(address: address, data: data, sid: sid) else { return }
            if on, address & 0x10 != 0, out.address & 0x10 != 0 || out.address & 0xFFF0_0000 != 0xFEE0_0000 {
                fail("remapped \(address) to \(out.address), not a compatibility-format LAPIC address")
            }
        }
        // Pins awaiting an EOI; deliveries are checked against the entry as it is now.
        let awaiting = Locked(Set<Int>())
        let ioapicBox = Locked<IOAPIC?>(nil)
        let ioapic = IOAPIC(deliver: { pin, message, level in
            if let entry = ioapicBox.withLock({ $0 })?.entry(pin), entry & (1 << 16) != 0 { fail("IOAPIC pin \(pin) delivered while masked") }
            if level, !awaiting.withLock({ $0.insert(pin).inserted }) { fail("level pin \(pin) delivered twice without an EOI") }
            remapChecked(message.address, message.data, sid: nil)
        })
        ioapicBox.withLock { $0 = ioapic }
        defer { ioapicBox.withLock { $0 = nil } }  // the box and the IOAPIC's closure hold each other
        let sid = UInt16(truncatingIfNeeded: first) << 3
        let edu = EduDevice(connections: EduDevice.Connections(
            dmaRead: { unit.dmaRead(sid: sid, from: $0, count: $1) },
            dmaWrite: { unit.dmaWrite(sid: sid, $0, to: $1) },
            sendMSI: { remapChecked($0, $1, sid: sid) },
            setINTx: { ioapic.setLevel(pin: 16, high: $0) }), log: { _ in })
        guard let function = try? edu.makeFunction(line: 16) else { throw FuzzFailure("edu's function could not be made") }
        let unitOffsets: [UInt64] = [0x18, 0x20, 0x28, 0x2C, 0x34, 0x38, 0x3C, 0x40, 0x88, 0x90, 0x9C, 0xA0, 0xB8, 0x208, 0x20C, 0x22C]
        let eduOffsets: [UInt64] = [0x04, 0x08, 0x20, 0x60, 0x64, 0x80, 0x88, 0x90, 0x98]
        var operations = 0
        while !input.isEmpty, operations < 2048 {
            operations += 1
            let op = input.u8()
            switch (op & 0x0F) % 10 {  // bits 7 and 6 choose how values are drawn
            case 0:  // RAM: mostly entries pointing back into RAM, with their flag bits
                let at = UInt64(input.u32()) % remappingRAMSize & ~7
                let value = op & 0x80 != 0 ? input.u64() : UInt64(input.u32()) % remappingRAMSize & ~0xFFF | UInt64(input.u8())
                try? ram.store(value, at: at)
            case 1:
                let offset = op & 0x80 != 0 ? UInt64(input.u16()) % 0x1100 : unitOffsets[Int(input.u8()) % unitOffsets.count]
                let value = op & 0x40 != 0 ? input.u64() : UInt64(input.u32()) % remappingRAMSize | UInt64(input.u8()) << 56
                unit.write(offset: offset, size: input.size(), value: value)
            case 2: _ = unit.read(offset: UInt64(input.u16()) % 0x1100, size: input.size())
            case 3:
                let offset = op & 0x80 != 0 ? UInt64(input.u32()) % (1 << 20) : eduOffsets[Int(input.u8()) % eduOffsets.count]
                let value = op & 0x40 != 0 ? input.u64() : 0x40000 + UInt64(input.u16()) % 0x1100
                edu.barWrite(0, offset: offset, size: input.size(), value: value)
            case 4: _ = edu.barRead(0, offset: UInt64(input.u32()) % (1 << 20), size: input.size())
            case 5: function.configWrite(offset: Int(input.u8()), size: [1, 2, 4][Int(input.u8()) % 3], value: input.u32())
            case 6:
                ioapic.write(offset: 0, size: 1, value: UInt64(input.u8()) % 0x48)
                ioapic.write(offset: 0x10, size: 4, value: UInt64(input.u32()))
            case 7: ioapic.setLevel(pin: Int(input.u8()) % 26, high: op & 0x80 != 0)
            case 8:
                let vector = input.u8()
                awaiting.withLock { set in
                    for pin in 0..<IOAPIC.pinCount where UInt8(truncatingIfNeeded: ioapic.entry(pin) ?? 0) == vector { set.remove(pin) }
                }
                ioapic.endOfInterrupt(vector: vector)
            default:
                remapChecked(0xFEE0_0000 | UInt64(input.u32()) & 0xF_FFFF, input.u32(), sid: op & 0x80 != 0 ? nil : input.u16())
            }
            // A pin made edge-triggered has no Remote IRR left to wait on.
            awaiting.withLock { set in
                for pin in set where (ioapic.entry(pin) ?? 0) & (1 << 15) == 0 { set.remove(pin) }
            }
            if let text = broken.withLock({ $0 }) { throw FuzzFailure(text) }
            let status = unit.read(offset: 0x34, size: 4), record = unit.read(offset: 0x228, size: 8)
            guard (status >> 1) & 1 == record >> 63 else { throw FuzzFailure("FSTS.PPF \(status) disagrees with the fault record \(record)") }
            let head = unit.read(offset: 0x80, size: 8), entries = UInt64(256) << (unit.read(offset: 0x90, size: 8) & 7)
            guard head % 16 == 0, head < entries * 16 else { throw FuzzFailure("IQH \(head) outside a queue of \(entries) descriptors") }
        }
    }
}
