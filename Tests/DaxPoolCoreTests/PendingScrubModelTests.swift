import DaxPoolCore
import DaxPoolTestSupport
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite("memory waiting to be scrubbed", .timeLimit(.minutes(20)))
struct PendingScrubModelTests {
    func model() throws -> PoolModel {
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .hugetlb, size: .mebibytes(64), align: .page1G, pageSize: .page2M, path: "/x"))
        return model
    }

    func uuid(_ seed: UInt64) -> LabelUUID {
        var generator = SplitMix64(state: seed)
        return LabelUUID.random(using: &generator)
    }

    @Test("a destroyed device's memory is not free until its scrub is finished, even after a restart")
    func dirtyUntilScrubbed() throws {
        var model = try model()
        let device = try model.createDevice(region: 0, size: .mebibytes(48), align: nil, name: nil, uuid: uuid(1))
        let extents = model.extents(of: device.id)
        let pending = try model.destroyDevice(device.id, force: true, scrubToken: "00ab")
        #expect(pending.extents == extents)
        #expect(pending.size == .mebibytes(48))
        #expect(try model.region(0).allocator.availableSize == .mebibytes(16))
        #expect(throws: PoolError.self) {
            _ = try model.createDevice(region: 0, size: .mebibytes(32), align: nil, name: nil, uuid: uuid(2))
        }

        // The pending scrub is persisted: a restart from the snapshot still keeps the memory out of use.
        let encoded = try JSONEncoder().encode(model.snapshot)
        var restarted = try PoolModel(snapshot: JSONDecoder().decode(PoolSnapshot.self, from: encoded))
        #expect(restarted == model)
        #expect(restarted.pendingScrubs.map(\.scrub) == [pending])
        #expect(try restarted.region(0).allocator.availableSize == .mebibytes(16))

        try restarted.finishScrub(region: 0, id: pending.id)
        #expect(restarted.pendingScrubs.isEmpty)
        #expect(try restarted.region(0).allocator.availableSize == .mebibytes(64))
        #expect(throws: PoolError.self) { try restarted.finishScrub(region: 0, id: pending.id) }
    }

    @Test("a region with memory waiting to be scrubbed cannot be destroyed")
    func regionBusy() throws {
        var model = try model()
        let device = try model.createDevice(region: 0, size: .mebibytes(8), align: nil, name: nil, uuid: uuid(1))
        let pending = try model.destroyDevice(device.id, force: true, scrubToken: "01")
        #expect(throws: PoolError.scrubPending(0, bytes: .mebibytes(8))) { try model.removeRegion(0) }
        try model.finishScrub(region: 0, id: pending.id)
        try model.removeRegion(0)
    }

    @Test("a refused destroy changes nothing, and a token is used once")
    func refusals() throws {
        var model = try model()
        let device = try model.createDevice(region: 0, size: .mebibytes(8), align: nil, name: nil, uuid: uuid(1))
        let before = model
        #expect(throws: PoolError.deviceEnabled(device.id, operation: "destroy")) {
            _ = try model.destroyDevice(device.id, force: false, scrubToken: "01")
        }
        #expect(throws: PoolError.self) { _ = try model.destroyDevice(device.id, force: true, scrubToken: "") }
        #expect(model == before)
        // A leased device needs force, however it is destroyed: the holders are named, and nothing changes.
        let lease = Lease(pid: 4242, uid: 1000, startTime: 7)
        try model.setState(device.id, .disabled)
        try model.addLease(lease, to: device.id)
        let leased = model
        #expect(throws: PoolError.deviceLeased(device.id, holders: [lease], operation: "destroy")) {
            _ = try model.destroyDevice(device.id, force: false, scrubToken: "01")
        }
        #expect(model == leased)
        let other = try model.createDevice(region: 0, size: .mebibytes(8), align: nil, name: nil, uuid: uuid(2))
        _ = try model.destroyDevice(device.id, force: true, scrubToken: "01")
        let afterFirst = model
        #expect(throws: PoolError.self) { _ = try model.destroyDevice(other.id, force: true, scrubToken: "01") }
        #expect(model == afterFirst)
    }

    @Test("clearing bad blocks and finishing a scrub keep the other's quarantine")
    func badBlocksAndScrubs() throws {
        var model = try model()
        let device = try model.createDevice(region: 0, size: .mebibytes(16), align: nil, name: nil, uuid: uuid(1))
        let start = try #require(model.extents(of: device.id).first).start
        _ = try model.recordMemoryError(
            region: 0, offset: start, length: .kibibytes(4), granule: .page4K, source: "api", time: 1)
        let pending = try model.destroyDevice(device.id, force: true, scrubToken: "02")
        // Clearing the bad block must not free memory that is still waiting to be scrubbed...
        _ = try model.clearBadBlocks(region: 0, extent: Extent(start: start, length: .kibibytes(4)))
        #expect(try model.region(0).allocator.availableSize == .mebibytes(48))
        // ...and finishing a scrub keeps a bad block inside it quarantined.
        _ = try model.recordMemoryError(
            region: 0, offset: start, length: .kibibytes(4), granule: .page4K, source: "api", time: 2)
        try model.finishScrub(region: 0, id: pending.id)
        #expect(try model.region(0).allocator.availableSize == ByteCount(UInt64(64 << 20) - 4096))
    }

    @Test("a snapshot written before pending scrubs existed still loads")
    func oldSnapshot() throws {
        let text = """
            {"events":[],"last_event_sequence":0,"regions":[{"bad_blocks":[],"config":{"align":1073741824,\
            "backend":"shm","id":0,"page_size":4096,"path":"/x","size":1048576},"devices":[]}]}
            """
        let snapshot = try JSONDecoder().decode(PoolSnapshot.self, from: Data(text.utf8))
        #expect(snapshot.regions.first?.pendingScrubs == [])
    }
}

@Suite("kernel bad blocks", .timeLimit(.minutes(20)))
struct KernelBadBlocksTests {
    @Test("sysfs badblocks lines are 512-byte sectors and counts, merged and sorted")
    func parse() throws {
        let extents = try KernelBadBlocks.parse("16 8\n0 1\n\n24 8\n")
        #expect(
            extents == [
                Extent(start: RegionOffset(0), length: ByteCount(512)),
                Extent(start: RegionOffset(8192), length: ByteCount(8192)),
            ])
        #expect(try KernelBadBlocks.parse("") == [])
    }

    @Test(
        "malformed badblocks text is refused with the line it is on",
        arguments: ["16", "16 8 1", "x 8", "16 -1", "16 0", "18446744073709551615 1", "1 2\n3 four"]
    )
    func malformed(text: String) {
        #expect(throws: KernelBadBlocks.ParseError.self) { _ = try KernelBadBlocks.parse(text) }
    }

    @Test("nd region ranges become region offsets clipped to the region, and known blocks are not reported again")
    func mapping() {
        let ranges = [
            Extent(start: RegionOffset(0), length: .kibibytes(4)),
            Extent(start: RegionOffset((1 << 20) - 4096), length: .kibibytes(8)),
            Extent(start: RegionOffset(5 << 20), length: .kibibytes(4)),
        ]
        let inside = KernelBadBlocks.regionRanges(ranges, base: 1 << 20, size: .mebibytes(2))
        #expect(inside == [Extent(start: RegionOffset(0), length: .kibibytes(4))])
        let known = [Extent(start: RegionOffset(4096), length: .kibibytes(4))]
        #expect(
            KernelBadBlocks.uncovered([Extent(start: RegionOffset(0), length: .kibibytes(16))], by: known) == [
                Extent(start: RegionOffset(0), length: .kibibytes(4)),
                Extent(start: RegionOffset(8192), length: .kibibytes(8)),
            ])
        #expect(KernelBadBlocks.uncovered(known, by: known).isEmpty)
    }
}
