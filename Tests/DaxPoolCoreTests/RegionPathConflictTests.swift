import DaxPoolCore
import Testing

@Suite("region path conflicts", .timeLimit(.minutes(20)))
struct RegionPathConflictTests {
    static func config(_ id: Int, _ backend: BackendKind = .shm, path: String) -> RegionConfig {
        RegionConfig(
            id: id, backend: backend, size: .gibibytes(1), align: .page1G,
            pageSize: backend == .hugetlb ? .page2M : .page4K, path: path)
    }

    static func model() throws -> PoolModel {
        var model = PoolModel()
        try model.addRegion(config(0, path: "/dev/shm/daxpool-0/region0"))
        return model
    }

    @Test(
        "overlap is decided component by component on normalized paths",
        arguments: [
            ("/a/region1", "/a/region1", RegionPathOverlap.same),
            ("/a/region1/", "//a/./region1", .same),
            ("/a/b/../region1", "/a/region1", .same),
            ("/a/region1/x", "/a/region1", .inside),
            ("/a", "/a/region1", .around),
            ("/", "/a/region1", .around),
            ("/a/region10", "/a/region1", nil),
            ("/a/region1", "/a/region10", nil),
            ("/b/region1", "/a/region1", nil),
        ] as [(String, String, RegionPathOverlap?)])
    func overlap(path: String, other: String, expected: RegionPathOverlap?) {
        #expect(RegionPathOverlap(path, other) == expected)
    }

    @Test("a new region on the path of another region is refused, naming the other region and its path")
    func samePathRefused() throws {
        var model = try Self.model()
        let before = model
        let error = try #require(throws: PoolError.self) {
            try model.addRegion(Self.config(1, path: "/dev/shm/daxpool-0/region0/"))
        }
        #expect(
            error
                == .regionPathConflict(
                    path: "/dev/shm/daxpool-0/region0", overlap: .same, region: 0,
                    regionPath: "/dev/shm/daxpool-0/region0"))
        #expect(error.description.contains("region 0"))
        #expect(model == before)
    }

    @Test("a new region inside another region's directory is refused")
    func nestedPathRefused() throws {
        var model = try Self.model()
        let error = try #require(throws: PoolError.self) {
            try model.addRegion(Self.config(1, .hugetlb, path: "/dev/shm/daxpool-0/region0/inner"))
        }
        #expect(
            error
                == .regionPathConflict(
                    path: "/dev/shm/daxpool-0/region0/inner", overlap: .inside, region: 0,
                    regionPath: "/dev/shm/daxpool-0/region0"))
        #expect(error.description.contains("inside /dev/shm/daxpool-0/region0"))
    }

    @Test("a new region around another region's directory is refused")
    func parentPathRefused() throws {
        var model = try Self.model()
        let error = try #require(throws: PoolError.self) {
            try model.addRegion(Self.config(1, path: "/dev/shm/daxpool-0"))
        }
        #expect(
            error
                == .regionPathConflict(
                    path: "/dev/shm/daxpool-0", overlap: .around, region: 0,
                    regionPath: "/dev/shm/daxpool-0/region0"))
    }

    @Test("siblings whose names share a prefix, and regions without directories, do not conflict")
    func siblingsAccepted() throws {
        var model = try Self.model()
        try model.addRegion(Self.config(1, path: "/dev/shm/daxpool-0/region01"))
        try model.addRegion(Self.config(2, .hugetlb, path: "/run/daxpool/hugetlb/region2"))
        // A sim region's path names no directory of daxpool's: it neither conflicts nor blocks.
        try model.addRegion(Self.config(3, .sim, path: "/dev/shm/daxpool-0/region0"))
        try model.addRegion(Self.config(4, path: "/dev/shm/daxpool-0/region4"))
        #expect(model.regionIDs == [0, 1, 2, 3, 4])
    }

    @Test("a saved state whose regions overlap still loads")
    func overlappingSnapshotLoads() throws {
        var model = try Self.model()
        var snapshot = model.snapshot
        snapshot.regions.append(
            RegionSnapshot(
                config: Self.config(1, path: "/dev/shm/daxpool-0/region0"), devices: [], badBlocks: [],
                pendingScrubs: []))
        model = try PoolModel(snapshot: snapshot)
        #expect(model.regionIDs == [0, 1])
    }
}
