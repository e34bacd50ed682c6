import DaxPoolCore
import Foundation
import Glibc
import SystemPackage
import Testing

@testable import DaxPoolLinux

/// A hugetlb region that grew while its devices held memory is more than one hugetlbfs mount (segment); its state
/// keeps the mounts' sizes (`RegionConfig.segments`). A start rebuilds them from the state, with the mounts still
/// there (a daemon restart) or gone (a reboot, modelled by unmounting them between two backends), and every device's
/// file is in the segment that holds its extents, at the path it had. Real hugetlbfs and the node's real pool, under
/// the huge page test lock: every test adds pages on top of what the pool has and gives back only those.
@Suite(
    "hugetlb segments across restarts and reboots", .serialized, .timeLimit(.minutes(20)),
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
    .enabled(if: HugetlbResizeHost.givesPages, HugetlbResizeHost.reason))
struct HugetlbSegmentRestartTests {
    let backend = HugetlbBackend(scrubThreads: 2)

    static func device(_ instance: Int) -> DaxPoolCore.DeviceID { DaxPoolCore.DeviceID(region: 0, instance: instance) }
    static func mebibytes(_ count: UInt64) -> ByteCount { .mebibytes(count) }
    static func extent(_ start: UInt64, _ megabytes: UInt64) -> Extent {
        Extent(start: RegionOffset(start << 20), length: .mebibytes(megabytes))
    }

    /// What the daemon's state holds for the region's devices: each device with its extents.
    static let devices: [(record: DeviceRecord, extents: [Extent])] = [
        (HugetlbTestSupport.record(device(0)), [extent(0, 4)]),
        (HugetlbTestSupport.record(device(1)), [extent(8, 16)]),
        (HugetlbTestSupport.record(device(2)), [extent(4, 4)]),
    ]

    /// An 8 MiB region with `dax0.0` (4 MiB of 0x5A) grown to 24 MiB, then `dax0.1` (16 MiB of 0x6B) in the growth
    /// and `dax0.2` (4 MiB) in the rest of the first mount, placed by their extents as the allocator gives them.
    func grownRegion(_ root: String) throws -> (region: RegionConfig, paths: [String]) {
        let region = try backend.createRegion(
            HugetlbTestSupport.region("\(root)/region0", size: Self.mebibytes(8)), vmemmapOptimization: .off)
        try backend.provisionDevice(Self.device(0), size: Self.mebibytes(4), extents: [Self.extent(0, 4)], in: region)
        let grown = try backend.resizeRegion(region, to: Self.mebibytes(24))
        #expect(grown.segments == [Self.mebibytes(8), Self.mebibytes(16)], "the state learns the mounts' sizes")
        for (record, extents) in Self.devices.dropFirst() {
            try backend.provisionDevice(
                record.id, size: ByteCount(extents.reduce(0) { $0 + $1.length.rawValue }), extents: extents, in: grown)
        }
        let paths = try (0..<3).map { try #require(backend.devicePath(Self.device($0), in: grown)) }
        #expect(paths == ["\(region.path)/dax0.0", "\(region.path)/.segment1/dax0.1", "\(region.path)/dax0.2"])
        try HugetlbTestSupport.fill(paths[0], with: 0x5A, count: 4 << 20)
        try HugetlbTestSupport.fill(paths[1], with: 0x6B, count: 16 << 20)
        return (grown, paths)
    }

    /// Unmounts the region's mounts, the segments first, as a reboot takes them away.
    static func unmountAll(_ region: RegionConfig) throws {
        let mounts = try HugetlbResizeWithDevicesTests.mounts(region.path).keys.sorted { $0.count > $1.count }
        for point in mounts { try #require(umount2(point, 0) == 0, "umount \(point): \(errno)") }
        try #require(try HugetlbResizeWithDevicesTests.mounts(region.path).isEmpty)
    }

    /// Checks the region's mounts, each device's path and file size, then destroys everything and checks that the
    /// node's pool is back at `base`.
    func checkRebuilt(_ region: RegionConfig, _ restarted: HugetlbBackend, paths: [String], base: Int) throws {
        #expect(
            try HugetlbResizeWithDevicesTests.mounts(region.path)
                == [region.path: 8 << 20, "\(region.path)/.segment1": 16 << 20],
            "every segment is mounted with its size")
        for instance in 0..<3 {
            #expect(restarted.devicePath(Self.device(instance), in: region) == paths[instance], "dax0.\(instance)")
            let size = Self.devices[instance].extents.reduce(0) { $0 + $1.length.rawValue }
            #expect(restarted.memoryHeld(by: Self.device(instance), in: region) == ByteCount(size))
        }
        #expect(HugetlbTestSupport.count(.page2M) == base + 12, "exactly the region's pages")
        for instance in 0..<3 { try restarted.destroyDevice(Self.device(instance), in: region) }
        try restarted.destroyRegion(region)
        #expect(HugetlbTestSupport.count(.page2M) == base)
        #expect(try HugetlbResizeWithDevicesTests.mounts(region.path).isEmpty)
    }

    @Test("a restart with the mounts in place keeps every segment and every device's file, path and bytes")
    func restartWithMounts() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, paths) = try grownRegion(root)
            defer { try? HugetlbTestSupport.cleanUpRegion(backend, region, devices: 3) }
            let restarted = HugetlbBackend(scrubThreads: 2)
            let report = try restarted.reconcile(region, devices: Self.devices, pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty && report.notes.isEmpty && report.lostAndFound.isEmpty, "\(report)")
            #expect(Scratch.read(4 << 20, from: paths[0]).allSatisfy { $0 == 0x5A }, "the devices' memory is intact")
            #expect(Scratch.read(16 << 20, from: paths[1]).allSatisfy { $0 == 0x6B })
            try checkRebuilt(region, restarted, paths: paths, base: base)
        }
    }

    @Test("a start after the mounts went away (as after a reboot) mounts every segment again, files at the same paths")
    func startAfterMountsGone() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, paths) = try grownRegion(root)
            defer { try? HugetlbTestSupport.cleanUpRegion(backend, region, devices: 3) }
            try Self.unmountAll(region)

            let restarted = HugetlbBackend(scrubThreads: 2)
            let report = try restarted.reconcile(region, devices: Self.devices, pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty && report.lostAndFound.isEmpty, "\(report)")
            // The pages stayed reserved (this boot's record): none are added again.
            try checkRebuilt(region, restarted, paths: paths, base: base)
        }
    }

    @Test("a start after a reboot (mounts, pages and record gone) reserves the pages again and rebuilds the layout")
    func startAfterReboot() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, paths) = try grownRegion(root)
            defer { try? HugetlbTestSupport.cleanUpRegion(backend, region, devices: 3) }
            try Self.unmountAll(region)
            // The reboot: the kernel's pool starts empty of the region's pages, and /run (the record) is gone.
            HugetlbTestSupport.setCount(base, .page2M)
            try FileManager.default.removeItem(atPath: "\(root)/region0.hugetlb.json")

            let restarted = HugetlbBackend(scrubThreads: 2)
            let report = try restarted.reconcile(region, devices: Self.devices, pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty && report.lostAndFound.isEmpty, "\(report)")
            #expect(try HugetlbResizeTests.record(root)?.pagesAdded == 12, "the region's 12 pages, recorded")
            try checkRebuilt(region, restarted, paths: paths, base: base)
        }
    }

    @Test("a start with only the grown segment's mount gone mounts it again and makes its device's file there")
    func startAfterSegmentGone() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, paths) = try grownRegion(root)
            defer { try? HugetlbTestSupport.cleanUpRegion(backend, region, devices: 3) }
            try #require(umount2("\(region.path)/.segment1", 0) == 0)

            let restarted = HugetlbBackend(scrubThreads: 2)
            let report = try restarted.reconcile(region, devices: Self.devices, pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty && report.lostAndFound.isEmpty, "\(report)")
            #expect(report.notes.contains { $0.contains("segment 1 of \(16 << 20) bytes mounted") }, "\(report)")
            #expect(Scratch.read(4 << 20, from: paths[0]).allSatisfy { $0 == 0x5A }, "segment 0's device is intact")
            try checkRebuilt(region, restarted, paths: paths, base: base)
        }
    }

    @Test("a device is made in the segment that holds its extents, even when another segment has room")
    func placementFollowsExtents() throws {
        try HugetlbTestSupport.withPool { root in
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: Self.mebibytes(8)), vmemmapOptimization: .off)
            try backend.provisionDevice(
                Self.device(0), size: Self.mebibytes(2), extents: [Self.extent(0, 2)], in: region)
            let grown = try backend.resizeRegion(region, to: Self.mebibytes(16))
            defer { try? HugetlbTestSupport.cleanUpRegion(backend, grown, devices: 2) }
            // Segment 0 has 6 MiB free, but the allocator gave dax0.1 memory of the growth.
            try backend.provisionDevice(
                Self.device(1), size: Self.mebibytes(4), extents: [Self.extent(8, 4)], in: grown)
            #expect(backend.devicePath(Self.device(1), in: grown) == "\(region.path)/.segment1/dax0.1")
        }
    }
}

extension HugetlbTestSupport {
    /// Destroys devices `daxR.0` to `daxR.(devices - 1)` wherever they are, then the region (after a failed test).
    static func cleanUpRegion(_ backend: HugetlbBackend, _ region: RegionConfig, devices: Int) throws {
        for instance in 0..<devices {
            try? backend.destroyDevice(DaxPoolCore.DeviceID(region: region.id, instance: instance), in: region)
        }
        try backend.destroyRegion(region)
    }
}
