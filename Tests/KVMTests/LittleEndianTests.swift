@testable import KVM
import Testing

@Suite struct LittleEndianTests {
    @Test func roundTripsEverySize() {
        var buffer = [UInt8](repeating: 0xEE, count: 8)
        for size in [1, 2, 4, 8, 3] {
            buffer.withUnsafeMutableBytes { raw in
                storeLittleEndian(0x0102_0304_0506_0708, raw.baseAddress!, size: size)
                let back = loadLittleEndian(raw.baseAddress!, size: size)
                let mask: UInt64 = size == 8 ? .max : (1 << (8 * UInt64(size))) - 1
                #expect(back == 0x0102_0304_0506_0708 & mask)
            }
        }
        buffer.withUnsafeMutableBytes { storeLittleEndian(0xAABB, $0.baseAddress!, size: 2) }
        #expect(buffer[0] == 0xBB && buffer[1] == 0xAA)
    }
}
