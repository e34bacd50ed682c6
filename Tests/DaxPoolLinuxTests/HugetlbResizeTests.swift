import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Synchronization
import SystemPackage
import Testing

/// The host's real node pool, except that its kernel gives at most `limit` pages in all: a grow past it gets
/// fewer pages than asked, as on a host short of memory.
struct HugetlbStingyKernel: HugetlbPageCounter {
    let real = HugetlbSysfsPageCounter()
    let limit: Int

    func count(node: Int, pageSize: Alignment) throws(BackendError) -> Int {
        try real.count(node: node, pageSize: pageSize)
    }

    func setCount(_ count: Int, node: Int, pageSize: Alignment) throws(BackendError) {
        try real.setCount(min(count, limit), node: node, pageSize: pageSize)
    }
}

/// Whether this host can run the resize tests.
enum HugetlbResizeHost {
    /// Whether the host's kernel gives 16 more 2M pages on node 0 now (asked and given back under the pool lock).
    static let givesPages: Bool = {
        guard HugetlbTestSupport.isRoot else { return false }
        var gives = false
        try? HugetlbTestSupport.withPool { _ in
            let start = HugetlbTestSupport.count(.page2M)
            HugetlbTestSupport.setCount(start + 16, .page2M)
            gives = HugetlbTestSupport.count(.page2M) == start + 16
            HugetlbTestSupport.setCount(start, .page2M)
        }
        return gives
    }()
    static let reason: Comment = "the host's kernel cannot give 16 more 2M huge pages on node 0 now"
}

@Suite(
    "hugetlb region resize", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
    .enabled(if: HugetlbResizeHost.givesPages, HugetlbResizeHost.reason))
struct HugetlbResizeTests {
    let backend = HugetlbBackend(scrubThreads: 2)

    /// The options of the region's mount (`size=`, `min_size=`, ...).
    static func mountOptions(_ path: String) throws -> [String] {
        try #require(try HugetlbMountInfo.mounted(at: path)).superOptions
    }

    static func record(_ root: String, _ id: Int = 0) throws -> HugetlbRegionRecord? {
        try HugetlbRegionRecord.load(FilePath("\(root)/region\(id).hugetlb.json"))
    }

    @Test("a region grows and shrinks by exactly its pages on its node, the mount follows, and destroy gives back all")
    func growAndShrink() throws {
        try HugetlbTestSupport.withPool { root in
            // Another user's pages, which daxpool must neither reset nor give back.
            let start = HugetlbTestSupport.count(.page2M)
            HugetlbTestSupport.setCount(start + 2, .page2M)
            defer { HugetlbTestSupport.setCount(start, .page2M) }
            let base = HugetlbTestSupport.count(.page2M)
            try #require(base == start + 2, "the kernel must give this test 2 pages")

            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
            try #require(HugetlbTestSupport.count(.page2M) == base + 4)
            let grown = try backend.resizeRegion(region, to: .mebibytes(24))
            #expect(grown.size == .mebibytes(24))
            #expect(HugetlbTestSupport.count(.page2M) == base + 12, "exactly 8 more pages")
            #expect(try Self.mountOptions(region.path).contains("size=\(24 << 20)"))
            #expect(try Self.mountOptions(region.path).contains("min_size=\(24 << 20)"))
            #expect(try Self.record(root)?.pagesAdded == 12)
            // The grown region holds a device of all its memory.
            let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(24), extents: [], in: grown)
            try backend.destroyDevice(device, in: grown)

            let shrunk = try backend.resizeRegion(grown, to: .mebibytes(4))
            #expect(HugetlbTestSupport.count(.page2M) == base + 2, "exactly 10 pages given back")
            #expect(try Self.mountOptions(region.path).contains("size=\(4 << 20)"))
            #expect(try Self.record(root)?.pagesAdded == 2)

            try backend.destroyRegion(shrunk)
            #expect(HugetlbTestSupport.count(.page2M) == base, "the other user's 2 pages stay")
        }
    }

    @Test("a grow the kernel gives fewer pages for is refused; pages, mount and record stay exactly as they were")
    func growShortOfPages() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let stingy = HugetlbBackend(pages: HugetlbStingyKernel(limit: base + 6))
            let region = try stingy.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
            defer { try? stingy.destroyRegion(region) }
            try #require(HugetlbTestSupport.count(.page2M) == base + 4, "the kernel must give this test 4 pages")
            let record = try Self.record(root)
            let options = try Self.mountOptions(region.path)

            let error = try #require(throws: BackendError.self) { try stingy.resizeRegion(region, to: .mebibytes(16)) }
            #expect(error.errno.rawValue == ENOMEM && error.message.contains("got 2"))
            #expect(HugetlbTestSupport.count(.page2M) == base + 4, "the 2 pages the kernel gave went back")
            #expect(try Self.mountOptions(region.path) == options)
            #expect(try Self.record(root) == record)
        }
    }

    @Test("a region holding a device in all its memory is not shrunk: the mount, its pages and the device file stay")
    func deviceBlocksResize() throws {
        try HugetlbTestSupport.withPool { root in
            let base = HugetlbTestSupport.count(.page2M)
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            try #require(HugetlbTestSupport.count(.page2M) == base + 4)
            let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: region)
            let path = try #require(backend.devicePath(device, in: region))
            try HugetlbTestSupport.fill(path, with: 0x5A, count: 4 << 20)
            let options = try Self.mountOptions(region.path)
            let record = try Self.record(root)

            for size in [ByteCount.mebibytes(6), .mebibytes(4)] {
                let error = try #require(throws: BackendError.self) { try backend.resizeRegion(region, to: size) }
                #expect(error.errno.rawValue == EBUSY && error.message.contains("dax0.0"))
                #expect(error.message.contains("size cannot change while files are on it"))
            }
            #expect(HugetlbTestSupport.count(.page2M) == base + 4)
            #expect(try Self.mountOptions(region.path) == options)
            #expect(try Self.record(root) == record)
            #expect(Scratch.read(4 << 20, from: path).allSatisfy { $0 == 0x5A }, "the device's memory is intact")
        }
    }
}
