import DaxPoolCore
import DaxPoolTestSupport
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite("state changes: the journal's records", .timeLimit(.minutes(20)))
struct StateChangeTests {
    /// A random walk of pool operations; after each one the changes between the states before and after must
    /// rebuild the state after, also through JSON (as the journal stores them).
    @Test("a scrub added or finished is one change naming that scrub, not the region with every scrub it has")
    func scrubsAreTheirOwnChanges() throws {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .sim, size: .mebibytes(64), align: .page1G, pageSize: .page4K, path: "/r0"))
        var devices: [DeviceRecord] = []
        var generator = SplitMix64(state: 7)
        for _ in 0..<3 {
            devices.append(
                try model.createDevice(
                    region: 0, size: .mebibytes(2), align: nil, name: nil,
                    uuid: LabelUUID.random(using: &generator), owner: 0))
        }
        var scrubs: [PendingScrub] = []
        for (index, device) in devices.enumerated() {
            let before = model.snapshot
            scrubs.append(try model.destroyDevice(device.id, force: true, scrubToken: "token\(index)"))
            let changes = before.changes(to: model.snapshot)
            #expect(changes == [.putScrub(region: 0, scrub: scrubs[index]), .removeDevice(id: device.id)])
        }
        let before = model.snapshot
        try model.finishScrub(region: 0, id: scrubs[1].id)
        #expect(before.changes(to: model.snapshot) == [.removeScrub(region: 0, id: scrubs[1].id)])
        #expect(try before.applying(before.changes(to: model.snapshot)) == model.snapshot)
    }

    @Test("the changes between two states rebuild the second from the first, for 2,000 random operations")
    func changesRebuildTheTarget() throws {
        var generator = SplitMix64(state: 0x5eed_cafe)
        var model = PoolModel()
        var created = 0
        let start = model.snapshot
        var records: [[StateChange]] = []
        for step in 0..<2000 {
            let before = model.snapshot
            var next = model
            let choice = Int(generator.next() % 10)
            do {
                switch choice {
                case 0:
                    let id = next.nextRegionID
                    if id < 4 {
                        try next.addRegion(
                            RegionConfig(
                                id: id, backend: .sim, size: .mebibytes(64), align: .page1G, pageSize: .page4K,
                                path: "/r\(id)"))
                    }
                case 1, 2, 3:
                    created += 1
                    _ = try next.createDevice(
                        region: nil, size: .mebibytes(1 + generator.next() % 8), align: nil,
                        name: created % 3 == 0 ? try DeviceName(validating: "d\(created)") : nil,
                        uuid: LabelUUID.random(using: &generator), owner: UInt32(generator.next() % 3))
                case 4, 5:
                    if let device = next.regions.values.flatMap(\.sortedDevices).randomElement(using: &generator) {
                        if generator.next() % 2 == 0 {
                            try next.destroyDevice(device.id, force: true)
                        } else {
                            _ = try next.destroyDevice(
                                device.id, force: true, scrubToken: String(generator.next(), radix: 16))
                        }
                    }
                case 6:
                    if let device = next.regions.values.flatMap(\.sortedDevices).randomElement(using: &generator) {
                        try next.setState(device.id, device.state == .enabled ? .disabled : .enabled, force: true)
                    }
                case 7:
                    if let region = next.regions.values.randomElement(using: &generator),
                        let scrub = region.pendingScrubs.randomElement(using: &generator)
                    {
                        try next.finishScrub(region: region.config.id, id: scrub.id)
                    }
                case 8:
                    if let region = next.regions.values.randomElement(using: &generator) {
                        _ = try next.recordMemoryError(
                            region: region.config.id, offset: RegionOffset((generator.next() % 16) << 12),
                            length: .kibibytes(4), granule: .page4K, source: "api", time: Int64(step))
                    }
                default:
                    if let id = next.regionIDs.randomElement(using: &generator) { try next.removeRegion(id) }
                }
            } catch is PoolError {
                continue
            }
            model = next
            let after = model.snapshot
            let changes = before.changes(to: after)
            #expect(try before.applying(changes) == after, "step \(step)")
            let decoded = try JSONDecoder().decode([StateChange].self, from: JSONEncoder().encode(changes))
            #expect(try before.applying(decoded) == after, "step \(step), through JSON")
            let compact = try JSONDecoder().decode([StateChange].self, from: Data(CompactJSONEncoder().encode(changes)))
            #expect(compact == changes, "step \(step), through the journal's compact JSON")
            #expect(before.changes(to: before).isEmpty)
            records.append(changes)
            #expect(try start.replaying(records) == after, "step \(step), replayed from the start")
        }
        #expect(created > 100)
    }

    @Test("a change made against another state is refused, not guessed")
    func foreignChangesAreRefused() throws {
        let empty = PoolSnapshot(regions: [])
        #expect(throws: StateChangeError.self) { _ = try empty.applying([.removeRegion(id: 3)]) }
        #expect(throws: StateChangeError.self) {
            _ = try empty.applying([.removeDevice(id: DeviceID(region: 0, instance: 1))])
        }
    }

    @Test("a degraded region refuses every change that moves memory, and is never chosen for a new device")
    func degradedRegionsAreLeftAlone() throws {
        var model = PoolModel()
        for id in 0..<2 {
            try model.addRegion(
                RegionConfig(
                    id: id, backend: .sim, size: .mebibytes(64), align: .page1G, pageSize: .page4K, path: "/r\(id)"))
        }
        var generator = SplitMix64(state: 7)
        let device = try model.createDevice(
            region: 0, size: .mebibytes(8), align: nil, name: nil, uuid: LabelUUID.random(using: &generator))
        var snapshot = model.snapshot
        snapshot.regions[0].degraded = RegionDoubt(reasons: ["a test says so"])
        var degraded = try PoolModel(snapshot: snapshot)
        #expect(degraded.snapshot == snapshot)
        #expect(throws: PoolError.self) { try degraded.destroyDevice(device.id, force: true) }
        #expect(throws: PoolError.self) { _ = try degraded.destroyDevice(device.id, force: true, scrubToken: "ab") }
        #expect(throws: PoolError.self) {
            _ = try degraded.reconfigureDevice(device.id, size: .mebibytes(4), align: nil, force: true)
        }
        #expect(throws: PoolError.self) {
            _ = try degraded.createDevice(
                region: 0, size: .mebibytes(8), align: nil, name: nil, uuid: LabelUUID.random(using: &generator))
        }
        #expect(throws: PoolError.self) { try degraded.removeRegion(0) }
        let elsewhere = try degraded.createDevice(
            region: nil, size: .mebibytes(8), align: nil, name: nil, uuid: LabelUUID.random(using: &generator))
        #expect(elsewhere.id.region == 1)
        // Enabling and disabling move no memory: they still work.
        try degraded.setState(device.id, .disabled, force: true)
    }
}
