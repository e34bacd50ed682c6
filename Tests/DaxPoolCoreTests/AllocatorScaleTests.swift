import DaxPoolCore
import DaxPoolTestSupport
import Testing

/// The allocator at scale: thousands to tens of thousands of ranges, so that its tree has several levels and
/// nodes split, merge and collapse. Behaviour only: every answer must equal the linear first-fit walk's.
@Suite("allocator at scale", .timeLimit(.minutes(20)))
struct AllocatorScaleTests {
    /// Compares everything the two allocators expose.
    static func expectSame(
        _ tree: RegionAllocator,
        _ reference: LinearAllocator,
        probes: [UInt64],
        seed: UInt64,
        step: Int
    ) {
        let context = "seed \(seed) step \(step)"
        #expect(tree.availableSize == reference.availableSize, "\(context): available")
        #expect(tree.extentCount == reference.extentCount, "\(context): extent count")
        #expect(tree.devices == reference.devices, "\(context): devices")
        for device in reference.devices {
            #expect(tree.ranges(of: device) == reference.ranges(of: device), "\(context): ranges of \(device)")
            #expect(tree.size(of: device) == reference.size(of: device), "\(context): size of \(device)")
        }
        let treeOccupied = tree.occupiedExtents.map { "\($0.extent) \($0.owner)" }
        let referenceOccupied = reference.occupiedExtents.map { "\($0.extent) \($0.owner)" }
        #expect(treeOccupied == referenceOccupied, "\(context): occupied extents")
        #expect(tree.freeExtents == reference.freeExtents, "\(context): free extents")
        #expect(tree.quarantined == reference.quarantined, "\(context): quarantined")
        for alignment in Alignment.all {
            #expect(
                tree.largestFreeExtent(alignment: alignment) == reference.largestFreeExtent(alignment: alignment),
                "\(context): largest free extent at \(alignment)"
            )
        }
        for probe in probes {
            let offset = RegionOffset(probe)
            let treeOwner = tree.owner(at: offset).map { "\($0.owner) \($0.extent)" }
            let referenceOwner = reference.owner(at: offset).map { "\($0.owner) \($0.extent)" }
            #expect(treeOwner == referenceOwner, "\(context): owner at \(offset)")
            let treeOffset = tree.deviceOffset(at: offset).map { "\($0.device) \($0.offset)" }
            let referenceOffset = reference.deviceOffset(at: offset).map { "\($0.device) \($0.offset)" }
            #expect(treeOffset == referenceOffset, "\(context): device offset at \(offset)")
        }
    }

    @Test("random churn over thousands of ranges gives exactly the linear walk's layouts and errors", arguments: 0..<4)
    func churnMatchesLinearWalk(seed: UInt64) {
        var generator = SplitMix64(state: seed &+ 7000)
        let regionSize = ByteCount.gibibytes(64)
        var tree = RegionAllocator(size: regionSize)
        var reference = LinearAllocator(size: regionSize)
        var aligns: [Int: Alignment] = [:]
        let deviceCount = 2500
        for step in 0..<2000 {
            let device = Int.random(in: 0..<deviceCount, using: &generator)
            let alignment =
                aligns[device]
                ?? [Alignment.page4K, .page4K, .page4K, .page2M, .page2M, .page1G].randomElement(using: &generator)
                ?? .page4K
            let treeResult: Result<Void, AllocationError>
            let referenceResult: Result<Void, AllocationError>
            switch UInt64.random(in: 0..<20, using: &generator) {
            case 0..<3:
                tree.release(device: device)
                reference.release(device: device)
                aligns[device] = nil
                treeResult = .success(())
                referenceResult = .success(())
            case 3:
                // An explicit range, as `create-device --input` replays one.
                let units = UInt64.random(in: 1...4, using: &generator)
                let slots = regionSize.rawValue / alignment.rawValue
                let start = UInt64.random(in: 0..<slots, using: &generator) * alignment.rawValue
                let extent = Extent(start: RegionOffset(start), length: ByteCount(units * alignment.rawValue))
                treeResult = Result { () throws(AllocationError) in
                    try tree.claim(device: device + deviceCount, extent: extent, alignment: alignment)
                }
                referenceResult = Result { () throws(AllocationError) in
                    try reference.claim(device: device + deviceCount, extent: extent, alignment: alignment)
                }
            case 4:
                let page = UInt64.random(in: 0..<(regionSize.rawValue >> 12), using: &generator)
                let extent = Extent(
                    start: RegionOffset(page << 12), length: .kibibytes(4 * UInt64.random(in: 1...3, using: &generator))
                )
                treeResult = Result { () throws(AllocationError) in try tree.quarantine(extent) }
                referenceResult = Result { () throws(AllocationError) in try reference.quarantine(extent) }
            default:
                let units: UInt64
                switch alignment {
                case .page4K: units = UInt64.random(in: 0...64, using: &generator)
                case .page2M: units = UInt64.random(in: 0...24, using: &generator)
                default: units = UInt64.random(in: 0...3, using: &generator)
                }
                let target = ByteCount(units * alignment.rawValue)
                treeResult = Result { () throws(AllocationError) in
                    try tree.resize(device: device, to: target, alignment: alignment)
                }
                referenceResult = Result { () throws(AllocationError) in
                    try reference.resize(device: device, to: target, alignment: alignment)
                }
                if case .success = referenceResult { aligns[device] = target.rawValue > 0 ? alignment : nil }
            }
            switch (treeResult, referenceResult) {
            case (.success, .success): break
            case (.failure(let treeError), .failure(let referenceError)):
                #expect(treeError == referenceError, "seed \(seed) step \(step): errors differ")
            default:
                Issue.record("seed \(seed) step \(step): tree \(treeResult), linear walk \(referenceResult)")
            }
            #expect(tree.ranges(of: device) == reference.ranges(of: device), "seed \(seed) step \(step)")
            #expect(tree.availableSize == reference.availableSize, "seed \(seed) step \(step)")
            if step % 400 == 399 {
                var probes = (0..<64).map { _ in UInt64.random(in: 0..<regionSize.rawValue, using: &generator) }
                for (extent, _) in reference.occupiedExtents.prefix(200) {
                    probes += [extent.start.rawValue, extent.lastByte.rawValue, extent.end.rawValue]
                }
                Self.expectSame(tree, reference, probes: probes, seed: seed, step: step)
            }
        }
        #expect(tree.extentCount > 1000, "seed \(seed): the churn should keep thousands of ranges live")
        Self.expectSame(tree, reference, probes: [], seed: seed, step: -1)
    }

    @Test("twenty thousand ranges: holes are refilled in address order and everything frees again")
    func twentyThousandRanges() throws {
        // 80 MiB of 4K ranges (the tail after them starts 2M-aligned): enough for a tree of four levels.
        let count = 20_480
        let page = ByteCount.kibibytes(4)
        let regionSize = ByteCount(page.rawValue * UInt64(count) + (1 << 30))
        var allocator = RegionAllocator(size: regionSize)
        for device in 0..<count { try allocator.resize(device: device, to: page, alignment: .page4K) }
        #expect(allocator.extentCount == count)
        #expect(allocator.ranges(of: count - 1) == [Extent(start: RegionOffset(UInt64(count - 1) << 12), length: page)])

        for device in stride(from: 0, to: count, by: 2) { allocator.release(device: device) }
        #expect(allocator.extentCount == count / 2)
        #expect(allocator.largestFreeExtent(alignment: .page2M) == ByteCount.gibibytes(1))

        // One device of exactly the holes' size takes every hole, in address order, one range each.
        let refill = count
        try allocator.resize(device: refill, to: ByteCount(page.rawValue * UInt64(count / 2)), alignment: .page4K)
        let ranges = allocator.ranges(of: refill)
        #expect(ranges.count == count / 2)
        #expect(ranges.enumerated().allSatisfy { $0.element.start == RegionOffset(UInt64($0.offset * 2) << 12) })
        for hole in [0, 1, 7_171, count / 2 - 1] {
            let found = allocator.deviceOffset(at: RegionOffset((UInt64(hole * 2) << 12) + 100))
            #expect(found?.device == refill)
            #expect(found?.offset == ByteCount((UInt64(hole) << 12) + 100))
        }

        // Shrinking trims from the last range backwards.
        try allocator.resize(device: refill, to: ByteCount(page.rawValue * 10), alignment: .page4K)
        #expect(allocator.ranges(of: refill) == Array(ranges.prefix(10)))

        // A 2M device cannot use 4K holes: it goes to the tail, after the last live range.
        try allocator.resize(device: refill + 1, to: .mebibytes(2), alignment: .page2M)
        #expect(allocator.ranges(of: refill + 1).first?.start == RegionOffset(UInt64(count) << 12))

        for device in allocator.devices { allocator.release(device: device) }
        #expect(allocator.extentCount == 0)
        #expect(allocator.availableSize == regionSize)
        #expect(allocator.freeExtents == [Extent(start: .zero, length: regionSize)])
        #expect(allocator == RegionAllocator(size: regionSize))
    }

    @Test("device instances far apart, huge or negative behave like dense ones", arguments: 0..<4)
    func sparseInstances(seed: UInt64) {
        var generator = SplitMix64(state: seed &+ 9000)
        let instances = [-7, -1, 0, 1, 2, 3, 5, 8, 100, 5_000, 1 << 40, Int.max, Int.min]
        let regionSize = ByteCount.gibibytes(4)
        var tree = RegionAllocator(size: regionSize)
        var reference = LinearAllocator(size: regionSize)
        for step in 0..<400 {
            let device = instances.randomElement(using: &generator) ?? 0
            let target = ByteCount(UInt64.random(in: 0...40, using: &generator) << 21)
            if UInt64.random(in: 0..<4, using: &generator) == 0 {
                tree.release(device: device)
                reference.release(device: device)
            } else {
                let treeResult = Result { () throws(AllocationError) in
                    try tree.resize(device: device, to: target, alignment: .page2M)
                }
                let referenceResult = Result { () throws(AllocationError) in
                    try reference.resize(device: device, to: target, alignment: .page2M)
                }
                #expect("\(treeResult)" == "\(referenceResult)", "seed \(seed) step \(step)")
            }
            #expect(tree.devices == reference.devices, "seed \(seed) step \(step)")
            #expect(tree.ranges(of: device) == reference.ranges(of: device), "seed \(seed) step \(step)")
        }
        Self.expectSame(tree, reference, probes: [0, 1 << 21, 1 << 30, regionSize.rawValue - 1], seed: seed, step: -1)
        for device in instances { tree.release(device: device) }
        #expect(tree == RegionAllocator(size: regionSize))
    }

    @Test("a failed grow at scale reports what the linear walk would have and changes nothing")
    func failedGrowAtScale() throws {
        // 4K ranges with 4K holes between them: lots of free space, none of it usable at 2M.
        let count = 5_000
        let regionSize = ByteCount(UInt64(count * 2) << 12)
        var tree = RegionAllocator(size: regionSize)
        var reference = LinearAllocator(size: regionSize)
        for device in 0..<count {
            let extent = Extent(start: RegionOffset(UInt64(device * 2) << 12), length: .kibibytes(4))
            try tree.claim(device: device, extent: extent, alignment: .page4K)
            try reference.claim(device: device, extent: extent, alignment: .page4K)
        }
        let before = tree
        let wanted = ByteCount.mebibytes(2)
        let treeError = #expect(throws: AllocationError.self) {
            try tree.resize(device: count, to: wanted, alignment: .page2M)
        }
        let referenceError = #expect(throws: AllocationError.self) {
            try reference.resize(device: count, to: wanted, alignment: .page2M)
        }
        #expect(treeError == referenceError)
        #expect(tree == before)
        // At 4K the same request succeeds and takes the first 512 holes.
        try tree.resize(device: count, to: wanted, alignment: .page4K)
        try reference.resize(device: count, to: wanted, alignment: .page4K)
        #expect(tree.ranges(of: count) == reference.ranges(of: count))
        #expect(tree.ranges(of: count).count == 512)
    }
}
