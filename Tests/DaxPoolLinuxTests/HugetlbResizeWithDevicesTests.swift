import CLinuxShims
import DaxPoolCore
import Foundation
import Glibc
import SystemPackage
import Testing

@testable import DaxPoolLinux

/// A hugetlb region resizes while its devices hold memory: its memory is in one or more hugetlbfs mounts (segments),
/// each capped by its own `size=`; a grow mounts new memory, a shrink gives back mounts that hold no device. Real
/// hugetlbfs and the node's real pool: every test adds pages on top of what the pool has and gives back only those.
@Suite(
    "hugetlb resize with devices", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
    .enabled(if: HugetlbResizeHost.givesPages, HugetlbResizeHost.reason))
struct HugetlbResizeWithDevicesTests {
    let backend = HugetlbBackend(scrubThreads: 2)

    static func device(_ instance: Int) -> DaxPoolCore.DeviceID { DaxPoolCore.DeviceID(region: 0, instance: instance) }

    /// The region's hugetlbfs mounts under `path` (its own and its segments'), by mount point, with their `size=`.
    static func mounts(_ path: String) throws -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for info in try HugetlbMountInfo.all()
        where info.fileSystemType == "hugetlbfs" && (info.mountPoint == path || info.mountPoint.hasPrefix(path + "/")) {
            result[info.mountPoint] = info.sizeOption
        }
        return result
    }

    static func megabytes(_ count: Int) -> ByteCount { .mebibytes(UInt64(count)) }

    /// Destroys the given devices and the region, whatever segment they are in.
    func destroy(_ region: RegionConfig, devices: [Int]) throws {
        for instance in devices { try backend.destroyDevice(Self.device(instance), in: region) }
        try backend.destroyRegion(region)
    }

    /// An 8 MiB region holding `dax0.0` (4 MiB of 0x5A), the region's pages, and its device's path.
    func regionWithDevice(_ root: String) throws -> (region: RegionConfig, path: String) {
        let region = try backend.createRegion(
            HugetlbTestSupport.region("\(root)/region0", size: Self.megabytes(8)), vmemmapOptimization: .off)
        try backend.provisionDevice(Self.device(0), size: Self.megabytes(4), extents: [], in: region)
        let path = try #require(backend.devicePath(Self.device(0), in: region))
        try HugetlbTestSupport.fill(path, with: 0x5A, count: 4 << 20)
        return (region, path)
    }

    @Test(
        "a region grows with a device in place: the device's file, bytes and path stay, and new devices use the growth")
    func growWithDevice() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, path) = try regionWithDevice(root)
            defer { try? destroy(region, devices: [0, 1, 2]) }

            let grown = try backend.resizeRegion(region, to: Self.megabytes(24))
            #expect(grown.size == Self.megabytes(24))
            #expect(HugetlbTestSupport.count(.page2M) == base + 12, "exactly 8 more pages")
            #expect(try HugetlbResizeTests.record(root)?.pagesAdded == 12)
            #expect(
                try Self.mounts(region.path) == [region.path: 8 << 20, "\(region.path)/.segment1": 16 << 20],
                "the device's mount is kept; the growth is a mount of its own")
            #expect(backend.devicePath(Self.device(0), in: grown) == path)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A }, "the device's memory is intact")

            // A device of all the growth, and one of the rest of the first mount.
            try backend.provisionDevice(
                Self.device(1), size: Self.megabytes(16), extents: [Scratch.extent(8 << 20, Self.megabytes(16))],
                in: grown)
            #expect(backend.devicePath(Self.device(1), in: grown) == "\(region.path)/.segment1/dax0.1")
            try backend.provisionDevice(Self.device(2), size: Self.megabytes(4), extents: [], in: grown)
            #expect(backend.devicePath(Self.device(2), in: grown) == "\(region.path)/dax0.2")
            #expect(HugetlbTestSupport.count(.page2M) == base + 12, "no page beyond the region's")

            try destroy(grown, devices: [0, 1, 2])
            #expect(HugetlbTestSupport.count(.page2M) == base)
            #expect(try Self.mounts(region.path).isEmpty)
        }
    }

    @Test("a region with a device shrinks to exactly what its mounts without devices give back, and no further")
    func shrinkWithDevice() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, path) = try regionWithDevice(root)
            var current = try backend.resizeRegion(region, to: Self.megabytes(24))
            defer { try? destroy(current, devices: [0]) }
            // The growth's mount holds nothing: a second grow mounts it again larger instead of adding one.
            current = try backend.resizeRegion(current, to: Self.megabytes(32))
            #expect(try Self.mounts(region.path) == [region.path: 8 << 20, "\(region.path)/.segment1": 24 << 20])
            #expect(HugetlbTestSupport.count(.page2M) == base + 16)

            current = try backend.resizeRegion(current, to: Self.megabytes(12))
            #expect(try Self.mounts(region.path) == [region.path: 8 << 20, "\(region.path)/.segment1": 4 << 20])
            #expect(HugetlbTestSupport.count(.page2M) == base + 6, "exactly 10 pages given back")
            current = try backend.resizeRegion(current, to: Self.megabytes(8))
            #expect(try Self.mounts(region.path) == [region.path: 8 << 20])
            #expect(HugetlbTestSupport.count(.page2M) == base + 4)
            #expect(try HugetlbResizeTests.record(root)?.pagesAdded == 4)
            #expect(backend.devicePath(Self.device(0), in: current) == path)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })

            // Below what the device's mount holds: refused, nothing changes.
            let record = try HugetlbResizeTests.record(root)
            let error = try #require(throws: BackendError.self) {
                try backend.resizeRegion(current, to: Self.megabytes(4))
            }
            #expect(error.errno.rawValue == EBUSY && error.message.contains("dax0.0"), "\(error.message)")
            #expect(error.message.contains("\(8 << 20) bytes"), "names the smallest size allowed: \(error.message)")
            #expect(HugetlbTestSupport.count(.page2M) == base + 4)
            #expect(try HugetlbResizeTests.record(root) == record)
            #expect(try Self.mounts(region.path) == [region.path: 8 << 20])
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })

            try destroy(current, devices: [0])
            #expect(HugetlbTestSupport.count(.page2M) == base)
        }
    }

    @Test("a shrink below a device in the grown memory is refused naming it; pages, record, mounts and bytes stay")
    func shrinkBelowDevicesRefused() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, _) = try regionWithDevice(root)
            let grown = try backend.resizeRegion(region, to: Self.megabytes(16))
            defer { try? destroy(grown, devices: [0, 1, 2]) }
            // dax0.1 fills the rest of the first mount; dax0.2 lies in the growth.
            try backend.provisionDevice(Self.device(1), size: Self.megabytes(4), extents: [], in: grown)
            try backend.provisionDevice(Self.device(2), size: Self.megabytes(4), extents: [], in: grown)
            let path = try #require(backend.devicePath(Self.device(2), in: grown))
            #expect(path == "\(region.path)/.segment1/dax0.2")
            try HugetlbTestSupport.fill(path, with: 0x6B, count: 4 << 20)
            let mounts = try Self.mounts(region.path)
            let record = try HugetlbResizeTests.record(root)

            for size in [12, 8, 2] {
                let error = try #require(throws: BackendError.self) {
                    try backend.resizeRegion(grown, to: Self.megabytes(size))
                }
                #expect(error.errno.rawValue == EBUSY && error.message.contains("dax0.2"), "\(error.message)")
                #expect(error.message.contains("\(16 << 20) bytes"), "\(error.message)")
            }
            #expect(HugetlbTestSupport.count(.page2M) == base + 8)
            #expect(try HugetlbResizeTests.record(root) == record)
            #expect(try Self.mounts(region.path) == mounts)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x6B })
        }
    }

    @Test("a tenant growing its device file takes only its own mount's free memory, never the growth's")
    func tenantCannotExceedCap() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, path) = try regionWithDevice(root)
            let grown = try backend.resizeRegion(region, to: Self.megabytes(16))
            defer { try? destroy(grown, devices: [0, 1]) }

            let descriptor = open(path, O_RDWR | O_CLOEXEC)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            #expect(ftruncate(descriptor, 16 << 20) == 0, "the length may grow")
            #expect(cshim_fallocate(descriptor, 0, 0, 8 << 20) == 0, "into its own mount's free memory")
            let refused = cshim_fallocate(descriptor, 0, 0, 16 << 20)
            let refusal = errno
            #expect(refused != 0 && (refusal == ENOSPC || refusal == ENOMEM), "but not past its mount's size=")
            #expect(HugetlbTestSupport.count(.page2M) == base + 8, "the node's pool is untouched")
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })

            // The growth is still all there for the next device.
            try backend.provisionDevice(Self.device(1), size: Self.megabytes(8), extents: [], in: grown)
            #expect(backend.devicePath(Self.device(1), in: grown) == "\(region.path)/.segment1/dax0.1")
            #expect(backend.memoryHeld(by: Self.device(1), in: grown) == Self.megabytes(8))
        }
    }

    @Test("a restart keeps the layout: each device stays in its mount, at its path, with its bytes")
    func restartKeepsLayout() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let (region, path) = try regionWithDevice(root)
            let grown = try backend.resizeRegion(region, to: Self.megabytes(24))
            defer { try? destroy(grown, devices: [0, 1]) }
            try backend.provisionDevice(Self.device(1), size: Self.megabytes(16), extents: [], in: grown)
            let grownPath = try #require(backend.devicePath(Self.device(1), in: grown))
            try HugetlbTestSupport.fill(grownPath, with: 0x6B, count: 16 << 20)
            let mounts = try Self.mounts(region.path)

            let restarted = HugetlbBackend(scrubThreads: 2)
            let report = try restarted.reconcile(
                grown,
                devices: [
                    (HugetlbTestSupport.record(Self.device(0)), [Scratch.extent(0, Self.megabytes(4))]),
                    (HugetlbTestSupport.record(Self.device(1)), [Scratch.extent(8 << 20, Self.megabytes(16))]),
                ],
                pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty && report.notes.isEmpty && report.lostAndFound.isEmpty, "\(report)")
            #expect(try Self.mounts(region.path) == mounts)
            #expect(restarted.devicePath(Self.device(0), in: grown) == path)
            #expect(restarted.devicePath(Self.device(1), in: grown) == grownPath)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })
            #expect(Scratch.read(16 << 20, from: grownPath).allSatisfy { $0 == 0x6B })
            #expect(HugetlbTestSupport.count(.page2M) == base + 12)

            // The restarted daemon destroys them and gives back exactly the region's pages.
            try restarted.destroyDevice(Self.device(1), in: grown)
            try restarted.destroyDevice(Self.device(0), in: grown)
            try restarted.destroyRegion(grown)
            #expect(HugetlbTestSupport.count(.page2M) == base)
        }
    }

    /// A resize to cut, from a region of `from` MiB (reached with committed resizes) to `to` MiB.
    struct CutCase: CustomTestStringConvertible, Sendable {
        var step: HugetlbResizeStep
        var path: [Int]
        var to: Int
        var testDescription: String {
            "\(path.map(String.init).joined(separator: "→")) MiB → \(to) MiB, cut after \(step.rawValue)"
        }
    }

    static let cutCases: [CutCase] = HugetlbResizeStep.allCases.flatMap { step in
        [
            CutCase(step: step, path: [8], to: 24),  // a new mount
            CutCase(step: step, path: [8, 16], to: 24),  // the growth's empty mount made larger
            CutCase(step: step, path: [8, 24], to: 12),  // the growth's mount made smaller
            CutCase(step: step, path: [8, 24], to: 8),  // the growth's mount removed
        ]
    }

    @Test(
        "a crash at any step of a resize with a device is repaired by the next start: state's size, exact pages",
        arguments: cutCases)
    func crashAtStep(_ cut: CutCase) throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let made = try regionWithDevice(root)
            var region = made.region
            let path = made.path
            for size in cut.path.dropFirst() { region = try backend.resizeRegion(region, to: Self.megabytes(size)) }
            defer { try? destroy(region, devices: [0]) }
            let pagesBefore = HugetlbTestSupport.count(.page2M)
            let record = try HugetlbResizeTests.record(root)

            var cutting = HugetlbBackend(scrubThreads: 2)
            let step = cut.step
            cutting.resizeCut = { $0 == step }
            do {
                _ = try cutting.resizeRegion(region, to: Self.megabytes(cut.to))
            } catch {
                #expect((error as? BackendError)?.isSimulatedCrash == true, "\(error)")
            }

            // The next start: the state still has the old size.
            let report = try backend.reconcile(
                region, devices: [(HugetlbTestSupport.record(Self.device(0)), [Scratch.extent(0, Self.megabytes(4))])],
                pendingScrubs: [], mode: .normal)
            #expect(report.doubts.isEmpty, "\(report.doubts)")
            #expect(HugetlbTestSupport.count(.page2M) == pagesBefore, "exactly the state's pages")
            #expect(try HugetlbResizeTests.record(root) == record)
            #expect(
                try Self.mounts(region.path).values.reduce(0, +) == region.size.rawValue, "mounts of the state's size")
            #expect(backend.devicePath(Self.device(0), in: region) == path)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A }, "the device's memory is intact")
            let again = try backend.reconcile(
                region, devices: [(HugetlbTestSupport.record(Self.device(0)), [Scratch.extent(0, Self.megabytes(4))])],
                pendingScrubs: [], mode: .normal)
            #expect(again.notes.isEmpty && again.doubts.isEmpty, "\(again)")

            // The region resizes again, and its destroy gives back all it added.
            region = try backend.resizeRegion(region, to: Self.megabytes(cut.to))
            #expect(HugetlbTestSupport.count(.page2M) == base + cut.to / 2)
            try destroy(region, devices: [0])
            #expect(HugetlbTestSupport.count(.page2M) == base)
        }
    }

    @Test("a crash between writing the node's pool and recording it, with another user changing the pool, is a doubt")
    func crashWithForeignPoolChangeIsDoubt() throws {
        try HugetlbTestSupport.withPool { root in
            let (region, path) = try regionWithDevice(root)
            var cutting = HugetlbBackend(scrubThreads: 2)
            cutting.resizeCut = { $0 == .pagesReserved }
            #expect(throws: BackendError.self) { try cutting.resizeRegion(region, to: Self.megabytes(16)) }
            // Another user of the pool adds a page meanwhile.
            let now = HugetlbTestSupport.count(.page2M)
            HugetlbTestSupport.setCount(now + 1, .page2M)
            try #require(HugetlbTestSupport.count(.page2M) == now + 1)
            let record = try HugetlbResizeTests.record(root)

            let report = try backend.reconcile(
                region, devices: [(HugetlbTestSupport.record(Self.device(0)), [Scratch.extent(0, Self.megabytes(4))])],
                pendingScrubs: [], mode: .normal)
            #expect(report.doubts.contains { $0.contains("another user of the pool") }, "\(report)")
            #expect(HugetlbTestSupport.count(.page2M) == now + 1, "no page given back on doubt")
            #expect(try HugetlbResizeTests.record(root) == record)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A })
            try backend.destroyDevice(Self.device(0), in: region)
            try? FileManager.default.removeItem(atPath: "\(root)/region0.resize.json")
            try backend.destroyRegion(region)
        }
    }
}
