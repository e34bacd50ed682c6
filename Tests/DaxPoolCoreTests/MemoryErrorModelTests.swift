import DaxPoolCore
import DaxPoolTestSupport
import Testing

@Suite("memory errors in the model", .timeLimit(.minutes(20)))
struct MemoryErrorModelTests {
    func model() throws -> PoolModel {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .shm, size: .gibibytes(1), align: .page1G, pageSize: .page4K, path: "/x"))
        return model
    }

    func uuid(_ seed: UInt64) -> LabelUUID {
        var generator = SplitMix64(state: seed)
        return LabelUUID.random(using: &generator)
    }

    @Test("an error inside a device is attributed to the device and the offset inside it")
    func attribution() throws {
        var model = try model()
        _ = try model.createDevice(region: 0, size: .mebibytes(64), align: nil, name: nil, uuid: uuid(1))
        let second = try model.createDevice(
            region: 0, size: .mebibytes(64), align: nil, name: DeviceName(validating: "vm"), uuid: uuid(2))
        let events = try model.recordMemoryError(
            region: 0, offset: RegionOffset((64 << 20) + 5000), length: .kibibytes(1), granule: .page4K, source: "api",
            time: 1)
        #expect(events.count == 1)
        #expect(events.first?.device == second.id.description)
        #expect(events.first?.deviceOffset == 4096)
        #expect(events.first?.regionOffset == (64 << 20) + 4096)
        #expect(events.first?.length == 4096)
        #expect(events.first?.deviceName == "vm")
        #expect(model.badBlocks(of: second.id) == [Extent(start: RegionOffset(4096), length: .kibibytes(4))])
    }

    @Test("a 2M granule rounds the bad range out to the huge page")
    func granule() throws {
        var model = try model()
        let events = try model.recordMemoryError(
            region: 0, offset: RegionOffset(3 << 20), length: .kibibytes(4), granule: .page2M, source: "sigbus-ar",
            time: 1)
        #expect(events.first?.regionOffset == 2 << 20)
        #expect(events.first?.length == 2 << 20)
        #expect(events.first?.device == nil)
    }

    @Test("a bad range in a destroyed device is never handed out again, over many random layouts", arguments: 0..<25)
    func neverReallocated(seed: UInt64) throws {
        var generator = SplitMix64(state: seed &* 7919)
        var model = try model()
        var bad: [Extent] = []
        for step in 0..<120 {
            let live = model.regions[0]?.sortedDevices ?? []
            switch UInt64.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let size = ByteCount.mebibytes(2 * UInt64.random(in: 1...24, using: &generator))
                _ = try? model.createDevice(
                    region: 0, size: size, align: nil, name: nil, uuid: uuid(seed << 20 | UInt64(step)))
            case 5..<8:
                if let victim = live.randomElement(using: &generator) {
                    try model.destroyDevice(victim.id, force: true)
                }
            case 8:
                if let victim = live.randomElement(using: &generator) {
                    try model.setState(victim.id, .disabled)
                    let size = ByteCount.mebibytes(2 * UInt64.random(in: 1...8, using: &generator))
                    _ = try? model.reconfigureDevice(victim.id, size: size, align: nil)
                }
            default:
                let page = UInt64.random(in: 0..<(1 << 18), using: &generator)
                let events = try model.recordMemoryError(
                    region: 0, offset: RegionOffset(page << 12), length: .kibibytes(4), granule: .page4K, source: "api",
                    time: 1)
                #expect(!events.isEmpty)
                bad.append(Extent(start: RegionOffset(page << 12), length: .kibibytes(4)))
            }
            // Every bad block is either inside a device that already held it, or quarantined.
            let region = try #require(model.regions[0])
            for block in bad {
                guard let holder = region.allocator.owner(at: block.start) else {
                    Issue.record("seed \(seed): bad block \(block) is free")
                    continue
                }
                if case .device(let instance) = holder.owner {
                    #expect(
                        model.badBlocks(of: DeviceID(region: 0, instance: instance)).isEmpty == false, "seed \(seed)")
                }
            }
        }
        // Destroy everything: every bad block must now be quarantined, and new devices never cover one.
        for device in model.regions[0]?.sortedDevices ?? [] { try model.destroyDevice(device.id, force: true) }
        var index: UInt64 = 0
        while (try? model.createDevice(
            region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: uuid(1 << 40 | index))) != nil
        {
            index += 1
        }
        let region = try #require(model.regions[0])
        for block in bad { #expect(region.allocator.owner(at: block.start)?.owner == .quarantine, "seed \(seed)") }
        let rebuilt = try PoolModel(snapshot: model.snapshot)
        #expect(rebuilt == model, "seed \(seed): snapshot round trip")
    }

    @Test("clearing bad blocks frees the quarantined memory")
    func clear() throws {
        var model = try model()
        _ = try model.recordMemoryError(
            region: 0, offset: RegionOffset(1 << 20), length: .kibibytes(8), granule: .page4K, source: "api", time: 1)
        #expect(model.regions[0]?.allocator.availableSize == ByteCount(UInt64(1 << 30) - 8192))
        #expect(try model.clearBadBlocks(region: 0, extent: Extent(start: .zero, length: .mebibytes(2))) == 1)
        #expect(model.regions[0]?.allocator.availableSize == .gibibytes(1))
        #expect(model.regions[0]?.badBlocks.isEmpty == true)
    }

    @Test("errors outside the region are refused and change nothing")
    func outside() throws {
        var model = try model()
        let before = model
        #expect(throws: PoolError.self) {
            _ = try model.recordMemoryError(
                region: 0, offset: RegionOffset(1 << 30), length: .kibibytes(4), granule: .page4K, source: "api",
                time: 1)
        }
        #expect(throws: PoolError.self) {
            _ = try model.recordMemoryError(
                region: 3, offset: .zero, length: .kibibytes(4), granule: .page4K, source: "api", time: 1)
        }
        #expect(model == before)
    }
}
