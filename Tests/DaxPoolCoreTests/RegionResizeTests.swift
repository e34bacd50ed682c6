import DaxPoolCore
import DaxPoolTestSupport
import Testing

@Suite("region resize in the model", .timeLimit(.minutes(20)))
struct RegionResizeTests {
    static func model(size: ByteCount = .mebibytes(64), pageSize: Alignment = .page2M) throws -> PoolModel {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .hugetlb, size: size, align: .page1G, pageSize: pageSize, path: "/x"))
        return model
    }

    static func uuid(_ seed: UInt64) -> LabelUUID {
        var generator = SplitMix64(state: seed &+ 1)
        return LabelUUID.random(using: &generator)
    }

    @discardableResult
    static func device(_ model: inout PoolModel, _ size: ByteCount, seed: UInt64) throws -> DeviceRecord {
        try model.createDevice(region: 0, size: size, align: .page2M, name: nil, uuid: uuid(seed))
    }

    static func layout(_ model: PoolModel) -> [Int: [Extent]] {
        let region = model.regions[0]
        return Dictionary(
            uniqueKeysWithValues: (region?.sortedDevices ?? []).map { device in
                (device.id.instance, region?.allocator.ranges(of: device.id.instance) ?? [])
            })
    }

    @Test("growing a region keeps every device's ranges and adds exactly the new memory, free, at the end")
    func grow() throws {
        var model = try Self.model()
        try Self.device(&model, .mebibytes(16), seed: 1)
        try Self.device(&model, .mebibytes(8), seed: 2)
        let before = Self.layout(model)
        let config = try model.resizeRegion(0, to: .mebibytes(128))
        #expect(config.size == .mebibytes(128))
        let region = try model.region(0)
        #expect(region.config.size == .mebibytes(128) && region.allocator.size == .mebibytes(128))
        #expect(Self.layout(model) == before)
        #expect(region.allocator.availableSize == .mebibytes(104))
        #expect(region.allocator.freeExtents.last == Extent(start: RegionOffset(24 << 20), length: .mebibytes(104)))
        // The new memory is usable: a device can take all of it.
        try Self.device(&model, .mebibytes(104), seed: 3)
        #expect(try model.region(0).allocator.availableSize == .zero)
    }

    @Test("shrinking a region removes only free memory at its end; the devices keep their ranges")
    func shrink() throws {
        var model = try Self.model()
        try Self.device(&model, .mebibytes(16), seed: 1)
        let before = Self.layout(model)
        try model.resizeRegion(0, to: .mebibytes(16))
        let region = try model.region(0)
        #expect(region.config.size == .mebibytes(16) && region.allocator.availableSize == .zero)
        #expect(Self.layout(model) == before)
    }

    @Test("a shrink under a device is refused naming the device and the smallest size, and changes nothing")
    func shrinkUnderDevice() throws {
        var model = try Self.model()
        try Self.device(&model, .mebibytes(16), seed: 1)
        try Self.device(&model, .mebibytes(8), seed: 2)
        let before = model
        let error = try #require(throws: PoolError.self) { try model.resizeRegion(0, to: .mebibytes(20)) }
        guard case .regionTailInUse(0, let size, let holders, let smallest) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(size == .mebibytes(20) && smallest == .mebibytes(24))
        #expect(holders.count == 1 && holders[0].hasPrefix("dax0.1 (range"))
        #expect(error.description.contains("no less than \(24 << 20) bytes"))
        #expect(model == before, "the refusal changed nothing")
    }

    @Test("a shrink over memory waiting to be zeroed or over a bad block names it")
    func shrinkOverQuarantine() throws {
        var model = try Self.model()
        try Self.device(&model, .mebibytes(8), seed: 1)
        try Self.device(&model, .mebibytes(8), seed: 2)
        _ = try model.destroyDevice(DeviceID(region: 0, instance: 1), force: true, scrubToken: "t1")
        var error = try #require(throws: PoolError.self) { try model.resizeRegion(0, to: .mebibytes(8)) }
        #expect(error.description.contains("the memory of destroyed dax0.1"))
        #expect(error.description.contains("waiting to be zeroed"))

        var bad = try Self.model()
        _ = try bad.recordMemoryError(
            region: 0, offset: RegionOffset(40 << 20), length: .kibibytes(4), granule: .page2M, source: "test", time: 0)
        let before = bad
        error = try #require(throws: PoolError.self) { try bad.resizeRegion(0, to: .mebibytes(32)) }
        #expect(error.description.contains("a quarantined bad block"))
        #expect(bad == before)
        try bad.resizeRegion(0, to: .mebibytes(42))
        #expect(try bad.region(0).allocator.quarantined.count == 1)
    }

    @Test("a size of zero, not a whole number of pages, or too small for the pool is refused; so is a degraded region")
    func refusals() throws {
        var model = try Self.model()
        let before = model
        #expect(throws: PoolError.self) { try model.resizeRegion(0, to: .zero) }
        let misaligned = try #require(throws: PoolError.self) { try model.resizeRegion(0, to: .mebibytes(3)) }
        #expect(misaligned == .allocation(.misaligned(what: "region size", value: 3 << 20, alignment: .page2M)))
        #expect(throws: PoolError.unknownRegion(7)) { try model.resizeRegion(7, to: .mebibytes(2)) }
        var config = try model.region(0).config
        config.pool = [.mebibytes(32)]
        try model.replaceConfig(config)
        let pooled = model
        let pool = try #require(throws: PoolError.self) { try model.resizeRegion(0, to: .mebibytes(16)) }
        #expect(pool.description.contains("set-pool"))
        #expect(model == pooled)
        model = before
        model.markDegraded(0, reasons: ["test"])
        let degraded = try #require(throws: PoolError.self) { try model.resizeRegion(0, to: .mebibytes(128)) }
        guard case .regionDegraded = degraded else {
            Issue.record("unexpected \(degraded)")
            return
        }
    }

    @Test("a resized region's layout survives a snapshot round trip")
    func snapshotRoundTrip() throws {
        var model = try Self.model()
        try Self.device(&model, .mebibytes(16), seed: 1)
        try model.resizeRegion(0, to: .mebibytes(256))
        let reloaded = try PoolModel(snapshot: model.snapshot)
        #expect(reloaded == model)
        #expect(try reloaded.region(0).config.size == .mebibytes(256))
    }

    @Test(
        "random devices and random resizes: every device keeps its ranges and the free memory is exact",
        arguments: 0..<30)
    func property(seed: UInt64) throws {
        var generator = SplitMix64(state: seed)
        let page = Alignment.page2M
        var model = try Self.model(size: ByteCount(UInt64.random(in: 8...256, using: &generator) << 21))
        var uuidSeed: UInt64 = seed << 16
        for _ in 0..<60 {
            let region = try model.region(0)
            let size = region.config.size
            switch UInt64.random(in: 0..<10, using: &generator) {
            case 0..<4:
                uuidSeed += 1
                let pages = UInt64.random(in: 1...16, using: &generator)
                _ = try? model.createDevice(
                    region: 0, size: ByteCount(pages << 21), align: page, name: nil, uuid: Self.uuid(uuidSeed))
            case 4..<5:
                if let victim = region.sortedDevices.randomElement(using: &generator) {
                    try model.destroyDevice(victim.id, force: true)
                }
            default:
                let before = model
                let layout = Self.layout(model)
                let used = size.rawValue - region.allocator.availableSize.rawValue
                let wanted = ByteCount(UInt64.random(in: 1...512, using: &generator) << 21)
                let end = region.allocator.occupiedEnd
                do {
                    try model.resizeRegion(0, to: wanted)
                    #expect(wanted >= end, "seed \(seed): shrank past an occupied extent")
                    let after = try model.region(0)
                    #expect(Self.layout(model) == layout, "seed \(seed): a device's ranges changed")
                    #expect(after.allocator.availableSize.rawValue == wanted.rawValue - used, "seed \(seed): free")
                    let free = after.allocator.freeExtents.reduce(0) { $0 + $1.length.rawValue }
                    #expect(free == wanted.rawValue - used, "seed \(seed): free extents")
                    AllocatorPropertyTests.checkInvariants(after.allocator, aligns: [:], seed: seed)
                } catch {
                    #expect(wanted < end, "seed \(seed): a resize to \(wanted) refused: \(error)")
                    #expect(model == before, "seed \(seed): a refused resize changed the model")
                    guard case .regionTailInUse = error else {
                        Issue.record("seed \(seed): unexpected \(error)")
                        return
                    }
                }
            }
        }
    }
}
