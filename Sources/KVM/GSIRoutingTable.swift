import CKVM

/// A `struct kvm_irq_routing` kept in one buffer for the VM's lifetime, edited in place: the
/// irqchip's pin routes first, then MSI routes in no particular order. Setting, replacing and
/// removing an MSI route cost O(1) (a removal moves the last route into the hole), so committing
/// after one change costs the ioctl alone, however large the table.
public struct GSIRoutingTable: ~Copyable {
    private let buffer: UnsafeMutableRawPointer
    private var table: UnsafeMutablePointer<kvm_irq_routing> { buffer.assumingMemoryBound(to: kvm_irq_routing.self) }
    private let pinCount: Int
    /// Room for MSI routes.
    public let capacity: Int
    /// Each GSI's index among the MSI routes, or -1 (by GSI; grown as GSIs are routed). An array,
    /// not a dictionary: hashing was a fifth of the cost of unmasking 2048 vectors at once.
    private var indexByGSI: [Int32] = []
    /// GSIs KVM can route lie below KVM_MAX_IRQ_ROUTES (4096 on x86); the index array stops here.
    public static let gsiLimit: UInt32 = 1 << 16
    /// MSI routes now in the table.
    public private(set) var msiCount = 0

    /// A table holding `pinRoutes` and room for `capacity` MSI routes.
    public init(pinRoutes: [GSIRoute], capacity: Int) {
        pinCount = pinRoutes.count
        self.capacity = max(0, capacity)
        let size = ckvm_routing_size(UInt32(pinCount + self.capacity))
        buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        for (index, route) in pinRoutes.enumerated() { Self.store(route, at: index, in: table) }
        ckvm_routing_set_count(table, UInt32(pinCount))
        // Room for the GSIs a full table routes (MSI GSIs start above the pins' 0…23).
        indexByGSI = Array(repeating: -1, count: min(Int(Self.gsiLimit), self.capacity + 64))
    }

    deinit {
        buffer.deallocate()
    }

    /// Routes `gsi` to an MSI message, replacing its route if it has one. Returns false when the
    /// table is full, or for a GSI at or above `gsiLimit` (which KVM would refuse).
    public mutating func setMSI(gsi: UInt32, address: UInt64, data: UInt32) -> Bool {
        guard gsi < Self.gsiLimit else { return false }
        let index: Int
        if let existing = self.index(of: gsi) {
            index = existing
        } else {
            guard msiCount < capacity else { return false }
            index = msiCount
            if Int(gsi) >= indexByGSI.count {
                indexByGSI.append(contentsOf: repeatElement(-1, count: Int(gsi) + 1 - indexByGSI.count))
            }
            indexByGSI[Int(gsi)] = Int32(index)
            msiCount += 1
        }
        // In bounds: index < capacity and the buffer holds pinCount + capacity entries.
        Self.store(.msi(gsi: gsi, address: address, data: data), at: pinCount + index, in: table)
        return true
    }

    /// Replaces pin route `index` (0 ..< the pin routes the table was made with); returns false
    /// for an index past them. A split irqchip's IOAPIC keeps its pins' messages here.
    public mutating func setPinRoute(_ route: GSIRoute, at index: Int) -> Bool {
        guard index >= 0, index < pinCount else { return false }
        Self.store(route, at: index, in: table)
        return true
    }

    /// Pin route `index` when it is an MSI route (a split irqchip's), else nil.
    public func pinMSIRoute(at index: Int) -> (gsi: UInt32, address: UInt64, data: UInt32)? {
        guard index >= 0, index < pinCount else { return nil }
        var gsi: UInt32 = 0, address: UInt64 = 0, data: UInt32 = 0
        return ckvm_routing_get_msi(table, UInt32(index), &gsi, &address, &data) == 0 ? (gsi, address, data) : nil
    }

    /// Removes the route of `gsi`; returns whether it had one.
    @discardableResult
    public mutating func removeMSI(gsi: UInt32) -> Bool {
        guard let index = index(of: gsi) else { return false }
        indexByGSI[Int(gsi)] = -1
        let last = msiCount - 1
        if index != last {
            ckvm_routing_move(table, UInt32(pinCount + last), UInt32(pinCount + index))
            var movedGSI: UInt32 = 0, address: UInt64 = 0, data: UInt32 = 0
            _ = ckvm_routing_get_msi(table, UInt32(pinCount + index), &movedGSI, &address, &data)
            indexByGSI[Int(movedGSI)] = Int32(index)
        }
        msiCount = last
        return true
    }

    /// Where `gsi`'s route is among the MSI routes, if it has one.
    private func index(of gsi: UInt32) -> Int? {
        guard Int(gsi) < indexByGSI.count else { return nil }
        let index = indexByGSI[Int(gsi)]
        return index < 0 ? nil : Int(index)
    }

    /// The MSI routes, by GSI.
    public var msiRoutes: [UInt32: (address: UInt64, data: UInt32)] {
        var routes: [UInt32: (address: UInt64, data: UInt32)] = [:]
        for index in 0..<msiCount {
            var gsi: UInt32 = 0, address: UInt64 = 0, data: UInt32 = 0
            if ckvm_routing_get_msi(table, UInt32(pinCount + index), &gsi, &address, &data) == 0 { routes[gsi] = (address, data) }
        }
        return routes
    }

    /// Sends the whole table to `vm` (KVM_SET_GSI_ROUTING).
    public func commit(to vm: KVMVirtualMachine) throws {
        ckvm_routing_set_count(table, UInt32(pinCount + msiCount))
        try vm.injectedFailure(.setGSIRouting, "with \(pinCount + msiCount) routes")
        let r = ckvm_ioctl(vm.fd.rawValue, CKVM_SET_GSI_ROUTING, buffer)
        if r < 0 { throw KVMError.ioctl(name: "KVM_SET_GSI_ROUTING", argument: "with \(pinCount + msiCount) routes", errno: -r) }
    }

    private static func store(_ route: GSIRoute, at index: Int, in table: UnsafeMutablePointer<kvm_irq_routing>) {
        switch route {
        case let .msi(gsi, address, data):
            ckvm_routing_set_msi(table, UInt32(index), gsi, UInt32(truncatingIfNeeded: address), UInt32(truncatingIfNeeded: address >> 32), data)
        case let .irqchip(gsi, chip, pin):
            ckvm_routing_set_irqchip(table, UInt32(index), gsi, chip, pin)
        }
    }
}
