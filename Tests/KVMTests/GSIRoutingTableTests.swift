import KVM
import Testing
import TestSupport

/// The in-place routing table against a dictionary model: any sequence of sets, replacements and
/// removals leaves exactly the model's MSI routes, and the table refuses what does not fit.
@Suite struct GSIRoutingTableTests {
    @Test(arguments: testSeeds([1, 2, 3, 4]))
    func setsAndRemovalsLeaveExactlyTheModelsRoutes(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let capacity = Int.random(in: 1...64, using: &random)
        var table = GSIRoutingTable(pinRoutes: GSIRoute.defaultPinRoutes, capacity: capacity)
        var model: [UInt32: (address: UInt64, data: UInt32)] = [:]
        for step in 0..<3000 {
            let gsi = UInt32.random(in: 0..<200, using: &random)
            if Bool.random(using: &random) {
                let address = 0xFEE0_0000 | UInt64.random(in: 0..<256, using: &random) << 12, data = UInt32.random(in: 0..<256, using: &random)
                let fits = model[gsi] != nil || model.count < capacity
                let set = table.setMSI(gsi: gsi, address: address, data: data)
                #expect(set == fits, "step \(step), \(replayHint(seed))")
                if fits { model[gsi] = (address, data) }
            } else {
                let removed = table.removeMSI(gsi: gsi)
                #expect(removed == (model.removeValue(forKey: gsi) != nil), "step \(step), \(replayHint(seed))")
            }
            let routes = table.msiRoutes, count = table.msiCount
            #expect(count == model.count && routes.count == model.count, "step \(step), \(replayHint(seed))")
            for (gsi, route) in model where routes[gsi].map({ $0 != route }) ?? true {
                Issue.record("step \(step): GSI \(gsi) routes \(String(describing: routes[gsi])), expected \(route), \(replayHint(seed))")
            }
            if routes.count != model.count { break }
        }
    }

    @Test func gsisKVMCannotRouteAreRefused() {
        var table = GSIRoutingTable(pinRoutes: [], capacity: 4)
        let atLimit = table.setMSI(gsi: GSIRoutingTable.gsiLimit, address: 0xFEE0_0000, data: 0x30)
        let atMax = table.setMSI(gsi: .max, address: 0xFEE0_0000, data: 0x30)
        let below = table.setMSI(gsi: GSIRoutingTable.gsiLimit - 1, address: 0xFEE0_0000, data: 0x30)
        let removed = table.removeMSI(gsi: .max)
        let count = table.msiRoutes.count
        #expect(!atLimit && !atMax && below && !removed && count == 1)
    }
}
