import DaxPoolCore
import Testing

/// The layouts of ndctl's `test/daxctl-create.sh`, which the Linux dax bus produces and daxpool must match.
/// The region is 4 GiB; instance 0 plays the test's seed device `dax0.0`.
@Suite("daxctl-create.sh scenarios", .timeLimit(.minutes(20)))
struct DaxctlCreateScenarioTests {
    let available = ByteCount.gibibytes(4)
    var quarter: ByteCount { ByteCount(available.rawValue / 4) }

    func mappingCount(_ allocator: RegionAllocator, _ device: Int) -> Int { allocator.ranges(of: device).count }

    @Test("test1: a device of all available space has one mapping and leaves nothing available")
    func wholeRegion() throws {
        var allocator = RegionAllocator(size: available)
        try allocator.resize(device: 1, to: available, alignment: .page2M)
        #expect(mappingCount(allocator, 1) == 1)
        #expect(allocator.availableSize == .zero)
        allocator.release(device: 1)
        #expect(allocator.availableSize == available)
    }

    @Test("test2: with the seed holding a quarter, a hole in the middle plus the tail gives two mappings")
    func holeInTheMiddle() throws {
        var allocator = RegionAllocator(size: available)
        try allocator.resize(device: 0, to: quarter, alignment: .page2M)
        try allocator.resize(device: 1, to: quarter, alignment: .page2M)
        try allocator.resize(device: 2, to: quarter, alignment: .page2M)
        allocator.release(device: 1)
        try allocator.resize(device: 4, to: ByteCount(quarter.rawValue * 2), alignment: .page2M)
        #expect(mappingCount(allocator, 4) == 2)
        #expect(
            allocator.ranges(of: 4).map(\.start) == [
                RegionOffset(quarter.rawValue), RegionOffset(quarter.rawValue * 3),
            ])
        #expect(allocator.availableSize == .zero)
    }

    @Test("test3: three quarters, destroy the first, a half takes the start hole and the tail: two mappings")
    func holeAtTheStart() throws {
        var allocator = RegionAllocator(size: available)
        for device in 1...3 { try allocator.resize(device: device, to: quarter, alignment: .page2M) }
        allocator.release(device: 1)
        try allocator.resize(device: 4, to: ByteCount(quarter.rawValue * 2), alignment: .page2M)
        #expect(mappingCount(allocator, 4) == 2)
        #expect(allocator.ranges(of: 4).first?.start == .zero)
        #expect(allocator.availableSize == .zero)
    }

    @Test("test4: two devices grown alternately in eighths end with four mappings each")
    func multiReconfig() throws {
        let configurations: UInt64 = 8
        let step = available.rawValue / configurations
        var allocator = RegionAllocator(size: available)
        try allocator.resize(device: 0, to: ByteCount(step), alignment: .page2M)
        try allocator.resize(device: 1, to: ByteCount(step), alignment: .page2M)
        var size = step * 2
        while size <= step * configurations / 2 {
            try allocator.resize(device: 0, to: ByteCount(size), alignment: .page2M)
            try allocator.resize(device: 1, to: ByteCount(size), alignment: .page2M)
            size += step
        }
        #expect(mappingCount(allocator, 0) == Int(configurations / 2))
        #expect(mappingCount(allocator, 1) == Int(configurations / 2))
        #expect(allocator.availableSize == .zero)
    }

    @Test("test5: growing into the start hole adds a mapping, growing into the adjacent tail extends in place")
    func adjust() throws {
        var allocator = RegionAllocator(size: available)
        for device in 1...4 {
            try allocator.resize(device: device, to: quarter, alignment: .page2M)
            #expect(mappingCount(allocator, device) == 1)
        }
        allocator.release(device: 1)
        allocator.release(device: 4)
        try allocator.resize(device: 2, to: ByteCount(quarter.rawValue * 2), alignment: .page2M)
        #expect(mappingCount(allocator, 2) == 2)
        try allocator.resize(device: 3, to: ByteCount(quarter.rawValue * 2), alignment: .page2M)
        #expect(mappingCount(allocator, 3) == 1)
        #expect(allocator.availableSize == .zero)
    }

    @Test("test6: a 1G-aligned device starts on a 1G boundary even after a 2M device")
    func gigabyteAlignment() throws {
        var allocator = RegionAllocator(size: available)
        try allocator.resize(device: 1, to: .mebibytes(2), alignment: .page2M)
        try allocator.resize(device: 2, to: .gibibytes(1), alignment: .page1G)
        #expect(allocator.ranges(of: 2) == [Extent(start: RegionOffset(1 << 30), length: .gibibytes(1))])
        #expect(throws: AllocationError.self) {
            try allocator.resize(device: 3, to: .mebibytes(3), alignment: .page2M)
        }
    }

    @Test("test7: replaying a four-mapping layout with explicit ranges reproduces it exactly")
    func inputRoundTrip() throws {
        var original = RegionAllocator(size: available)
        let step = available.rawValue / 8
        try original.resize(device: 0, to: ByteCount(step), alignment: .page2M)
        try original.resize(device: 1, to: ByteCount(step), alignment: .page2M)
        var size = step * 2
        while size <= step * 4 {
            try original.resize(device: 0, to: ByteCount(size), alignment: .page2M)
            try original.resize(device: 1, to: ByteCount(size), alignment: .page2M)
            size += step
        }
        let layout = original.ranges(of: 1)
        original.release(device: 1)
        for extent in layout { try original.claim(device: 7, extent: extent, alignment: .page2M) }
        #expect(original.ranges(of: 7) == layout)
        #expect(DeviceMapping.mappings(of: layout).count == 4)
    }

    @Test("shrinking trims from the last range backwards and drops whole ranges")
    func shrinkTrimsLastRange() throws {
        var allocator = RegionAllocator(size: available)
        for device in 1...3 { try allocator.resize(device: device, to: quarter, alignment: .page2M) }
        allocator.release(device: 1)
        try allocator.resize(device: 4, to: ByteCount(quarter.rawValue * 2), alignment: .page2M)
        let first = try #require(allocator.ranges(of: 4).first)
        try allocator.resize(device: 4, to: ByteCount(quarter.rawValue + (64 << 20)), alignment: .page2M)
        #expect(
            allocator.ranges(of: 4) == [
                first, Extent(start: RegionOffset(quarter.rawValue * 3), length: .mebibytes(64)),
            ])
        try allocator.resize(device: 4, to: .mebibytes(2), alignment: .page2M)
        #expect(allocator.ranges(of: 4) == [Extent(start: first.start, length: .mebibytes(2))])
    }

    @Test("a request larger than what is available says how much is available and changes nothing")
    func insufficientSpace() throws {
        var allocator = RegionAllocator(size: available)
        try allocator.resize(device: 1, to: quarter, alignment: .page2M)
        let before = allocator
        #expect(
            throws: AllocationError.insufficientSpace(
                requested: available, available: ByteCount(quarter.rawValue * 3),
                largestFreeExtent: ByteCount(quarter.rawValue * 3))
        ) {
            try allocator.resize(device: 2, to: available, alignment: .page2M)
        }
        #expect(allocator == before)
    }

    @Test("a size that is not a multiple of the alignment is refused")
    func misalignedSize() {
        var allocator = RegionAllocator(size: available)
        #expect(throws: AllocationError.misaligned(what: "size", value: 4096, alignment: .page2M)) {
            try allocator.resize(device: 1, to: .kibibytes(4), alignment: .page2M)
        }
    }

    @Test("an explicit range over memory in use is refused")
    func claimInUse() throws {
        var allocator = RegionAllocator(size: available)
        try allocator.resize(device: 1, to: quarter, alignment: .page2M)
        #expect(throws: AllocationError.self) {
            try allocator.claim(
                device: 2, extent: Extent(start: RegionOffset(1 << 21), length: .mebibytes(2)), alignment: .page2M)
        }
    }

    @Test("an offset maps to its device and the offset inside the device")
    func attribution() throws {
        var allocator = RegionAllocator(size: available)
        for device in 1...3 { try allocator.resize(device: device, to: quarter, alignment: .page2M) }
        allocator.release(device: 1)
        try allocator.resize(device: 4, to: ByteCount(quarter.rawValue * 2), alignment: .page2M)
        let found = try #require(allocator.deviceOffset(at: RegionOffset(quarter.rawValue * 3 + 4096)))
        #expect(found.device == 4)
        #expect(found.offset == ByteCount(quarter.rawValue + 4096))
        #expect(allocator.deviceOffset(at: RegionOffset(available.rawValue + 1)) == nil)
    }
}
