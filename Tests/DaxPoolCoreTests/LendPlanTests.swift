import DaxPoolCore
import DaxPoolTestSupport
import Testing

/// The lending decisions: whole memory blocks only, the policy's reserve, and which lent devices a reclaim takes.
@Suite("lend plan", .timeLimit(.minutes(20)))
struct LendPlanTests {
    static let mib: UInt64 = 1 << 20
    static let block = ByteCount(128 << 20)
    static let base: UInt64 = 0x1_4000_0000

    static func extent(_ startMiB: UInt64, _ lengthMiB: UInt64) -> Extent {
        Extent(start: RegionOffset(startMiB * mib), length: ByteCount(lengthMiB * mib))
    }

    @Test("only whole, block-aligned blocks of free memory can be lent")
    func alignedFree() {
        let free = [Self.extent(0, 100), Self.extent(120, 300), Self.extent(512, 512)]
        #expect(
            LendPlan.blockAlignedFree(free, base: Self.base, blockSize: Self.block)
                == [Self.extent(128, 256), Self.extent(512, 512)])
        // A base that is not block-aligned shifts the boundaries.
        #expect(
            LendPlan.blockAlignedFree([Self.extent(0, 512)], base: Self.base + 64 * Self.mib, blockSize: Self.block)
                == [Self.extent(64, 384)])
    }

    @Test("a size that is not whole blocks, or more than the free blocks, gets no extents")
    func refusals() {
        let free = [Self.extent(0, 1024)]
        #expect(
            LendPlan.extents(for: ByteCount(100 * Self.mib), free: free, base: Self.base, blockSize: Self.block) == nil)
        #expect(
            LendPlan.extents(for: ByteCount(2048 * Self.mib), free: free, base: Self.base, blockSize: Self.block) == nil
        )
        #expect(
            LendPlan.extents(for: ByteCount(512 * Self.mib), free: free, base: Self.base, blockSize: Self.block)
                == [Self.extent(0, 512)])
    }

    @Test("lent extents are whole blocks inside free memory and add up to the size, for random free maps")
    func extentsProperty() {
        for seed in UInt64(1)...300 {
            var random = SplitMix64(state: seed)
            var free: [Extent] = []
            var cursor: UInt64 = 0
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                cursor += UInt64.random(in: 0...300, using: &random) * 2 * Self.mib
                let length = UInt64.random(in: 1...400, using: &random) * 2 * Self.mib
                free.append(Extent(start: RegionOffset(cursor), length: ByteCount(length)))
                cursor += length + 2 * Self.mib
            }
            let blocks = UInt64.random(in: 1...8, using: &random)
            let size = ByteCount(blocks * Self.block.rawValue)
            let aligned = LendPlan.blockAlignedFree(free, base: Self.base, blockSize: Self.block)
            let alignedTotal = aligned.reduce(0) { $0 + $1.length.rawValue }
            guard let extents = LendPlan.extents(for: size, free: free, base: Self.base, blockSize: Self.block) else {
                #expect(alignedTotal < size.rawValue, "seed \(seed): refused though \(alignedTotal) bytes are free")
                continue
            }
            #expect(extents.reduce(0) { $0 + $1.length.rawValue } == size.rawValue, "seed \(seed)")
            for extent in extents {
                #expect((Self.base + extent.start.rawValue) % Self.block.rawValue == 0, "seed \(seed): \(extent)")
                #expect(extent.length.rawValue % Self.block.rawValue == 0, "seed \(seed): \(extent)")
                #expect(
                    free.contains { $0.start <= extent.start && extent.end <= $0.end },
                    "seed \(seed): \(extent) is not inside free memory")
            }
            // The policy never lends into the reserve.
            let keep = ByteCount(UInt64.random(in: 0...1024, using: &random) * Self.mib)
            let lendable = LendPlan.lendable(free: free, base: Self.base, blockSize: Self.block, keepFree: keep)
            let total = free.reduce(0) { $0 + $1.length.rawValue }
            #expect(lendable.rawValue % Self.block.rawValue == 0, "seed \(seed)")
            #expect(lendable.rawValue <= alignedTotal, "seed \(seed)")
            #expect(lendable.rawValue == 0 || total - lendable.rawValue >= keep.rawValue, "seed \(seed)")
            #expect(
                total <= keep.rawValue
                    || lendable.rawValue + Self.block.rawValue > min(alignedTotal, total - keep.rawValue),
                "seed \(seed): lends less than it could")
            let chunks = LendPlan.chunks(of: lendable, chunk: ByteCount(256 * Self.mib), blockSize: Self.block)
            #expect(chunks.reduce(0) { $0 + $1.rawValue } == lendable.rawValue, "seed \(seed)")
        }
    }

    @Test("a reclaim takes the smallest device that is enough, else the largest until enough")
    func reclaimChoice() {
        let lent: [(id: DeviceID, size: ByteCount)] = [
            (DeviceID(region: 0, instance: 1), ByteCount(256 * Self.mib)),
            (DeviceID(region: 0, instance: 2), ByteCount(512 * Self.mib)),
            (DeviceID(region: 0, instance: 3), ByteCount(256 * Self.mib)),
        ]
        #expect(
            LendPlan.reclaimChoice(lent: lent, needed: ByteCount(200 * Self.mib)) == [DeviceID(region: 0, instance: 1)])
        #expect(
            LendPlan.reclaimChoice(lent: lent, needed: ByteCount(300 * Self.mib)) == [DeviceID(region: 0, instance: 2)])
        #expect(LendPlan.reclaimChoice(lent: lent, needed: ByteCount(600 * Self.mib))?.count == 2)
        #expect(LendPlan.reclaimChoice(lent: lent, needed: ByteCount(2048 * Self.mib)) == nil)
        #expect(LendPlan.reclaimChoice(lent: lent, needed: .zero) == [])
    }

    @Test("a lent device keeps its ranges out of available_size, refuses destroy, and frees them when returned")
    func modelLending() throws {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(
                id: 0, backend: .devdax, size: ByteCount(1 << 30), align: .page1G, pageSize: .page2M, path: "/x"))
        let record = try model.lendDevice(
            region: 0, extents: [Self.extent(128, 256)], instance: 1, uuid: LabelUUID(high: 1, low: 1), name: nil,
            owner: 0)
        #expect(record.state == .lent)
        #expect(try model.region(0).allocator.availableSize == ByteCount((1024 - 256) * Self.mib))
        #expect(throws: PoolError.self) { try model.destroyDevice(record.id, force: true) }
        #expect(throws: PoolError.self) { try model.setState(record.id, .disabled) }
        #expect(model.lentDevices(in: 0).map(\.size) == [ByteCount(256 * Self.mib)])
        let restored = try PoolModel(snapshot: model.snapshot)
        #expect(try restored.device(record.id).state == .lent)
        try model.returnLent(record.id)
        #expect(try model.region(0).allocator.availableSize == ByteCount(1 << 30))
        #expect(throws: PoolError.self) { try model.returnLent(record.id) }
    }
}
