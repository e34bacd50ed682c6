import DaxPoolCore
import DaxPoolTestSupport
import Foundation
import Testing

/// A region whose memory is in more than one part (a hugetlb region that grew while devices held it: one hugetlbfs
/// mount per part) keeps every device inside one part, and the sizes it reports and suggests fit in one part.
@Suite("region segments in the allocator and the model", .timeLimit(.minutes(20)))
struct RegionSegmentTests {
    static let page = Alignment.page2M
    static func mebibytes(_ count: UInt64) -> ByteCount { .mebibytes(count) }

    static func model(size: ByteCount) throws -> PoolModel {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .hugetlb, size: size, align: .page1G, pageSize: page, path: "/x"))
        return model
    }

    static func uuid(_ seed: UInt64) -> LabelUUID {
        var generator = SplitMix64(state: seed &+ 0x5E6)
        return LabelUUID.random(using: &generator)
    }

    static func create(_ model: inout PoolModel, _ size: ByteCount?, seed: UInt64) throws(PoolError) -> DeviceRecord {
        try model.createDevice(region: 0, size: size, align: page, name: nil, uuid: uuid(seed))
    }

    /// Every device lies in one part, no occupied extent lies across a boundary, and the free figures add up.
    static func checkParts(_ model: PoolModel, _ context: String) {
        guard let region = model.regions[0] else { return }
        let allocator = region.allocator
        #expect(allocator.barriers == region.config.segmentBoundaries, "\(context): barriers follow the config")
        #expect(region.config.segmentsProblem() == nil, "\(context): \(region.config.segments)")
        #expect(allocator.straddling(allocator.barriers).isEmpty, "\(context): something lies across a boundary")
        for device in allocator.devices {
            let parts = Set(
                allocator.ranges(of: device).flatMap { range in
                    [
                        allocator.part(holding: range.start),
                        allocator.part(holding: RegionOffset(range.end.rawValue - 1)),
                    ]
                })
            #expect(parts.count == 1, "\(context): device \(device) lies in parts \(parts.sorted())")
        }
        let free = allocator.freeExtents.reduce(0) { $0 + $1.length.rawValue }
        #expect(free == allocator.availableSize.rawValue, "\(context): free extents disagree with available size")
        for extent in allocator.freeExtents {
            #expect(
                allocator.part(holding: extent.start) == allocator.part(holding: RegionOffset(extent.end.rawValue - 1)),
                "\(context): free extent \(extent) lies across a boundary")
        }
        let largest = allocator.largestDevice(alignment: page)
        #expect(largest.isAligned(to: page), "\(context): largest device \(largest)")
        #expect(largest <= allocator.availableSize(alignment: page))
        if largest.rawValue > 0 {
            var copy = model
            #expect(throws: Never.self, "\(context): the largest device that fits is refused") {
                try create(&copy, largest, seed: 999)
            }
            var bigger = model
            #expect(throws: PoolError.self, "\(context): more than the largest device that fits is taken") {
                try create(&bigger, ByteCount(largest.rawValue + page.rawValue), seed: 998)
            }
        }
    }

    /// The parts a hugetlb backend makes when the region grows to `size`: one mount again when no device holds
    /// memory, the last mount larger when it holds none, else a new mount of the growth.
    static func grownSegments(_ region: RegionState, to size: ByteCount) -> [ByteCount] {
        let parts = region.config.segments.isEmpty ? [region.config.size] : region.config.segments
        let growth = ByteCount(size.rawValue - region.config.size.rawValue)
        if region.allocator.occupiedExtents.isEmpty { return [size] }
        let lastStart = region.config.size.rawValue - (parts.last?.rawValue ?? 0)
        if parts.count > 1, region.allocator.occupiedExtents.allSatisfy({ $0.extent.end.rawValue <= lastStart }) {
            return parts.dropLast() + [ByteCount((parts.last?.rawValue ?? 0) + growth.rawValue)]
        }
        return parts + [growth]
    }

    @Test(
        "random grow, create, resize, destroy and shrink sequences never place a device across a boundary",
        arguments: 0..<60)
    func randomSequences(seed: UInt64) throws {
        var random = SplitMix64(state: seed)
        var model = try Self.model(size: Self.mebibytes(2 * UInt64.random(in: 1...8, using: &random)))
        var next: UInt64 = 0
        for step in 0..<80 {
            let context = "seed \(seed) step \(step)"
            guard let region = model.regions[0] else { return }
            let instances = region.sortedDevices.map(\.id)
            switch UInt64.random(in: 0..<10, using: &random) {
            case 0, 1:
                let size = region.config.size.rawValue + 2 << 20 * UInt64.random(in: 1...8, using: &random)
                let segments = Self.grownSegments(region, to: ByteCount(size))
                try model.resizeRegion(0, to: ByteCount(size), segments: segments)
            case 2:
                // A shrink to the end of the last occupied part, as a backend that gives back empty mounts does.
                let end = region.allocator.occupiedEnd.rawValue
                let floor =
                    end == 0
                    ? UInt64(2 << 20)
                    : region.allocator.parts[region.allocator.part(holding: RegionOffset(end - 1))].end
                guard floor < region.config.size.rawValue else { continue }
                try model.resizeRegion(0, to: ByteCount(floor))
            case 3, 4, 5:
                next += 1
                let size = Self.mebibytes(2 * UInt64.random(in: 1...12, using: &random))
                do {
                    _ = try Self.create(&model, size, seed: next)
                } catch {
                    let refusal: PoolError = error
                    guard case .allocation(.insufficientSpace(let requested, let available, _, let segments)) = refusal
                    else { throw refusal }
                    #expect(requested == size)
                    #expect(available.isAligned(to: Self.page) && available < size, "\(context)")
                    #expect(segments == region.allocator.parts.count)
                    #expect(available == region.allocator.largestDevice(alignment: Self.page), "\(context)")
                }
            case 6, 7:
                guard let device = instances.randomElement(using: &random) else { continue }
                try model.setState(device, .disabled)
                let size = Self.mebibytes(2 * UInt64.random(in: 1...12, using: &random))
                do {
                    _ = try model.reconfigureDevice(device, size: size, align: nil)
                } catch {
                    let refusal: PoolError = error
                    guard case .allocation(.insufficientSpace(_, let available, _, _)) = refusal else { throw refusal }
                    #expect(available.isAligned(to: Self.page) && available < size, "\(context)")
                    var copy = model
                    #expect(throws: Never.self, "\(context): the suggested size \(available) is refused") {
                        _ = try copy.reconfigureDevice(device, size: available, align: nil)
                    }
                }
            default:
                guard let device = instances.randomElement(using: &random) else { continue }
                try model.destroyDevice(device, force: true)
            }
            Self.checkParts(model, context)
            // The layout survives the state's round trip.
            let data = try JSONEncoder().encode(model.snapshot)
            let loaded = try PoolModel(snapshot: JSONDecoder().decode(PoolSnapshot.self, from: data))
            #expect(loaded.regions[0]?.allocator == model.regions[0]?.allocator, "\(context): reloaded")
        }
    }

    /// A 16 MiB region holding 12 MiB, grown to 32 MiB by a new part of 16 MiB: 4 MiB free in the first part.
    static func grownRegion() throws -> PoolModel {
        var model = try model(size: mebibytes(16))
        _ = try create(&model, mebibytes(12), seed: 1)
        try model.resizeRegion(0, to: mebibytes(32), segments: [mebibytes(16), mebibytes(16)])
        return model
    }

    @Test("a device larger than any one part's free memory is refused naming the largest that fits, which works")
    func largerThanAnyPart() throws {
        var model = try Self.grownRegion()
        let region = try model.region(0)
        #expect(region.allocator.availableSize == Self.mebibytes(20), "available_size counts every part's memory")
        #expect(region.allocator.largestDevice(alignment: Self.page) == Self.mebibytes(16))
        #expect(region.allocator.largestFreeExtent(alignment: Self.page) == Self.mebibytes(16))
        #expect(region.allocator.freeExtents.map(\.length) == [Self.mebibytes(4), Self.mebibytes(16)])
        let error = try #require(throws: PoolError.self) { try Self.create(&model, Self.mebibytes(20), seed: 2) }
        #expect(
            error
                == .allocation(
                    .insufficientSpace(
                        requested: Self.mebibytes(20), available: Self.mebibytes(16),
                        largestFreeExtent: Self.mebibytes(16), segments: 2)))
        #expect(error.description.contains("in 2 parts"), "\(error)")
        #expect(error.description.contains("ask for at most \(16 << 20) bytes"), "\(error)")
        let device = try Self.create(&model, Self.mebibytes(16), seed: 3)
        #expect(model.extents(of: device.id) == [Extent(start: RegionOffset(16 << 20), length: Self.mebibytes(16))])
        // A create without a size takes the largest that fits: the first part's 4 MiB.
        let rest = try Self.create(&model, nil, seed: 4)
        #expect(model.extents(of: rest.id) == [Extent(start: RegionOffset(12 << 20), length: Self.mebibytes(4))])
    }

    @Test("a device grows only inside its own part, and a refusal names the size it can grow to")
    func growInsidePart() throws {
        var model = try Self.grownRegion()
        let first = DeviceID(region: 0, instance: 0)
        try model.setState(first, .disabled)
        let error = try #require(throws: PoolError.self) {
            try model.reconfigureDevice(first, size: Self.mebibytes(20), align: nil)
        }
        guard case .allocation(.insufficientSpace(_, let available, _, 2)) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(available == Self.mebibytes(16))
        _ = try model.reconfigureDevice(first, size: Self.mebibytes(16), align: nil)
        #expect(model.extents(of: first) == [Extent(start: .zero, length: Self.mebibytes(16))])
    }

    @Test("parts that would cut through a device, or that do not add up to the region, are refused")
    func badSegmentsRefused() throws {
        var model = try Self.model(size: Self.mebibytes(16))
        _ = try Self.create(&model, Self.mebibytes(12), seed: 1)
        let before = model
        let cut = try #require(throws: PoolError.self) {
            try model.resizeRegion(0, to: Self.mebibytes(32), segments: [Self.mebibytes(8), Self.mebibytes(24)])
        }
        #expect(cut.description.contains("dax0.0"), "\(cut)")
        #expect(throws: PoolError.self) {
            try model.resizeRegion(0, to: Self.mebibytes(32), segments: [Self.mebibytes(16), Self.mebibytes(8)])
        }
        #expect(model == before)
    }

    @Test("a region's parts are kept in its config as JSON segments, and absent for one part")
    func segmentsCoding() throws {
        let model = try Self.grownRegion()
        let config = try model.region(0).config
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        #expect(json.contains("\"segments\":[\(16 << 20),\(16 << 20)]"), "\(json)")
        #expect(try JSONDecoder().decode(RegionConfig.self, from: Data(json.utf8)) == config)
        let single = try Self.model(size: Self.mebibytes(16)).region(0).config
        #expect(!String(decoding: try JSONEncoder().encode(single), as: UTF8.self).contains("segments"))
        // Without a backend's layout, a region of parts grows by a new part and shrinks by its last ones.
        var grown = model
        try grown.resizeRegion(0, to: Self.mebibytes(40))
        #expect(try grown.region(0).config.segments == [16, 16, 8].map { Self.mebibytes($0) })
        try grown.resizeRegion(0, to: Self.mebibytes(16))
        #expect(try grown.region(0).config.segments.isEmpty)
    }
}
