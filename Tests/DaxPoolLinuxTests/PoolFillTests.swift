import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Testing

/// The pool of ready memory filled ahead of demand (`RegionConfig.pool`): real files on tmpfs, and on hugetlbfs
/// as root.
@Suite("pool fill", .timeLimit(.minutes(20)))
struct PoolFillTests {
    let backend = ShmBackend(scrubThreads: 2)

    /// A shm region at `root` keeping `pool`.
    static func region(_ root: String, size: ByteCount, pool: [ByteCount]) -> RegionConfig {
        var config = Scratch.region(root, size: size)
        config.pool = pool
        return config
    }

    /// Fills the region's pool to the end.
    static func fill(_ backend: some MemoryBackend, _ region: RegionConfig) throws -> [(ByteCount, ByteCount)] {
        var reports: [(ByteCount, ByteCount)] = []
        try backend.fillPool(in: region, shouldContinue: { true }) { reports.append(($0, $1)) }
        return reports
    }

    /// The inode of each ready file, by name.
    static func readyInodes(_ root: String) -> [String: UInt] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/.pool")) ?? []
        var inodes: [String: UInt] = [:]
        for name in names where name.hasPrefix("clean.") {
            inodes[name] = Scratch.status("\(root)/.pool/\(name)").map { UInt($0.st_ino) }
        }
        return inodes
    }

    /// The memory every file under `root` holds.
    static func usedBytes(_ root: String) -> Int {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var total = 0
        while let name = enumerator?.nextObject() as? String {
            if let status = Scratch.status("\(root)/\(name)"), status.st_mode & S_IFMT == S_IFREG {
                total += Int(status.st_blocks) * 512
            }
        }
        return total
    }

    @Test("a fill makes a zeroed, allocated file of each pool size; a device of such a size takes one at once")
    func fillAndTake() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(
            Self.region(root, size: .mebibytes(64), pool: [.mebibytes(8), .mebibytes(16), .mebibytes(8)]))
        #expect(backend.readyFiles(in: region).isEmpty)

        let reports = try Self.fill(backend, region)
        #expect(backend.readyFiles(in: region) == [.mebibytes(8), .mebibytes(8), .mebibytes(16)])
        #expect(reports.first?.0 == .zero && reports.last?.0 == .mebibytes(32) && reports.last?.1 == .mebibytes(32))
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 <= $1.0 }, "progress never goes back")
        let inodes = Self.readyInodes(root)
        for name in inodes.keys {
            let path = "\(root)/.pool/\(name)"
            let status = try #require(Scratch.status(path))
            #expect(Int(status.st_blocks) * 512 >= Int(status.st_size), "\(name) is allocated")
            #expect(Scratch.read(Int(status.st_size), from: path).allSatisfy { $0 == 0 })
        }
        #expect(try Self.fill(backend, region).last?.1 == .zero, "a full pool has nothing to fill")

        let device = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: .mebibytes(16), extents: [], in: region)
        let path = try #require(backend.devicePath(device, in: region))
        let status = try #require(Scratch.status(path))
        #expect(inodes.values.contains(UInt(status.st_ino)), "the device is the filled file, renamed into place")
        #expect(status.st_size == 16 << 20 && status.st_mode & 0o777 == 0o600)
        #expect(backend.readyFiles(in: region) == [.mebibytes(8), .mebibytes(8)])

        _ = try Self.fill(backend, region)
        #expect(backend.readyFiles(in: region) == [.mebibytes(8), .mebibytes(8), .mebibytes(16)], "refilled")
        #expect(Self.usedBytes(root) <= 64 << 20, "the region's files never hold more than the region")
    }

    @Test("a fill stays inside the region: what does not fit is skipped, and files no size asks for make room")
    func fillRespectsRegion() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(
            Self.region(root, size: .mebibytes(32), pool: [.mebibytes(16), .mebibytes(16)]))
        let device = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: .mebibytes(24), extents: [], in: region)
        _ = try Self.fill(backend, region)
        #expect(backend.readyFiles(in: region).isEmpty, "8 MiB free holds no 16 MiB file")
        #expect(Self.usedBytes(root) <= 32 << 20)

        try backend.destroyDevice(device, in: region)
        #expect(backend.readyFiles(in: region) == [.mebibytes(24)], "the destroyed device's memory is ready")
        _ = try Self.fill(backend, region)
        #expect(backend.readyFiles(in: region) == [.mebibytes(16), .mebibytes(16)], "the 24 MiB file made room")
        #expect(Self.usedBytes(root) <= 32 << 20)
    }

    @Test("a device of another size takes the memory of ready files, and a stopped fill leaves nothing behind")
    func commitEvictsAndStop() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Self.region(root, size: .mebibytes(64), pool: [.mebibytes(64)]))
        _ = try Self.fill(backend, region)
        #expect(backend.readyFiles(in: region) == [.mebibytes(64)])
        let device = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: .mebibytes(8), extents: [], in: region)
        #expect(backend.readyFiles(in: region).isEmpty, "the 64 MiB file was evicted for the 8 MiB device")
        try backend.destroyDevice(device, in: region)
        try backend.provisionDevice(device, size: .mebibytes(8), extents: [], in: region)

        var steps = 0
        try backend.fillPool(
            in: region,
            shouldContinue: {
                steps += 1; return steps < 2
            }
        ) { _, _ in }
        #expect(steps == 2, "asked before each step, and stopped at the second")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/.pool")) ?? []
        #expect(left.isEmpty, "nothing half-filled stays: \(left)")
    }

    @Test("a fill on another thread never takes memory a device commit needs")
    func concurrentFillAndCommits() async throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(
            Self.region(root, size: .mebibytes(64), pool: Array(repeating: .mebibytes(16), count: 4)))
        let backend = backend
        let filler = Task.detached {
            for _ in 0..<8 { try backend.fillPool(in: region, shouldContinue: { true }) { _, _ in } }
        }
        for round in 0..<8 {
            let devices = (0..<4).map { DeviceID(region: 0, instance: round * 4 + $0) }
            for (index, device) in devices.enumerated() {
                try backend.provisionDevice(
                    device, size: .mebibytes(UInt64(8 + 4 * (index % 2))), extents: [], in: region)
            }
            #expect(Self.usedBytes(root) <= 64 << 20)
            for device in devices { try backend.destroyDevice(device, in: region) }
        }
        try await filler.value
        #expect(Self.usedBytes(root) <= 64 << 20)
    }

    @Test("a file a crash left half-filled is removed at the next start")
    func reconcileRemovesHalfFilled() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Self.region(root, size: .mebibytes(64), pool: [.mebibytes(8)]))
        try FileManager.default.createDirectory(atPath: "\(root)/.pool", withIntermediateDirectories: false)
        Scratch.makeFile("\(root)/.pool/filling.00000000000000aa", byteCount: 8 << 20)
        try backend.reconcile(region, devices: [])
        #expect(!Scratch.exists("\(root)/.pool/filling.00000000000000aa"))
        #expect(backend.readyFiles(in: region).isEmpty)
    }

    @Test(
        "hugetlb: a fill makes ready files of huge pages on the region's node, and a device takes one",
        .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason))
    func hugetlbFill() throws {
        try HugetlbTestSupport.withPool { root in
            let backend = HugetlbBackend(scrubThreads: 2)
            var config = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16))
            config.pool = [.mebibytes(4), .mebibytes(8)]
            let region = try backend.createRegion(config, vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            _ = try Self.fill(backend, region)
            #expect(backend.readyFiles(in: region) == [.mebibytes(4), .mebibytes(8)])
            let inodes = Self.readyInodes(region.path)
            let device = DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(8), extents: [], in: region)
            let path = try #require(backend.devicePath(device, in: region))
            let status = try #require(Scratch.status(path))
            #expect(inodes.values.contains(UInt(status.st_ino)))
            #expect(Scratch.read(8 << 20, from: path).allSatisfy { $0 == 0 })
            // The next 4 MiB device takes the other ready file, and growing it to 8 MiB fills the region.
            let big = DeviceID(region: 0, instance: 1)
            #expect(throws: Never.self) {
                try backend.provisionDevice(big, size: .mebibytes(4), extents: [], in: region)
                try backend.provisionDevice(big, size: .mebibytes(8), extents: [], in: region)
            }
            #expect(backend.readyFiles(in: region).isEmpty)
        }
    }
}
