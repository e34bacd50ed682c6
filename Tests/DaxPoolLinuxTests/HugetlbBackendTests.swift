import CLinuxShims
import DaxPoolCore
import DaxPoolLinux
import DaxPoolSystem
import Foundation
import Glibc
import Synchronization
import SystemPackage
import Testing

@Suite(
    "hugetlb backend", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason))
struct HugetlbBackendTests {
    let backend = HugetlbBackend(scrubThreads: 2)

    @Test("a region adds exactly its pages on top of the pool, mounts hugetlbfs, and destroy gives exactly them back")
    func reserveAndGiveBack() throws {
        try HugetlbTestSupport.withPool { root in
            // Another user's pages, which daxpool must neither reset nor give back.
            let start = HugetlbTestSupport.count(.page2M)
            HugetlbTestSupport.setCount(start + 2, .page2M)
            defer { HugetlbTestSupport.setCount(start, .page2M) }
            let base = HugetlbTestSupport.count(.page2M)
            try #require(base == start + 2, "the kernel must give this test 2 pages")

            let request = HugetlbTestSupport.region("\(root)/region3", id: 3, size: .mebibytes(16))
            let config = try backend.createRegion(request, vmemmapOptimization: .off)
            #expect(config.targetNode == 0, "the default node is reported")
            #expect(HugetlbTestSupport.count(.page2M) == base + 8)
            #expect(Scratch.fileSystemType(request.path) == HugetlbTestSupport.hugetlbfsMagic)
            let mount = try #require(try HugetlbMountInfo.mounted(at: request.path))
            #expect(mount.source == "daxpool-region3")
            #expect(mount.hugePageSize == 2 << 20)
            #expect(mount.superOptions.contains("size=\(16 << 20)"))
            #expect(mount.superOptions.contains("min_size=\(16 << 20)"))
            #expect(Scratch.status(request.path).map { $0.st_mode & 0o777 } == 0o700)
            let record = try #require(try HugetlbRegionRecord.load(FilePath("\(root)/region3.hugetlb.json")))
            #expect(record.pagesAdded == 8 && record.node == 0 && record.pageSize == .page2M)

            // Creating again over our own mount reuses it and takes no more pages.
            _ = try backend.createRegion(request, vmemmapOptimization: .off)
            #expect(HugetlbTestSupport.count(.page2M) == base + 8)

            try backend.destroyRegion(config)
            #expect(HugetlbTestSupport.count(.page2M) == base, "exactly the 8 added pages are given back")
            #expect(try HugetlbMountInfo.mounted(at: request.path) == nil)
            #expect(!Scratch.exists(request.path))
            #expect(!Scratch.exists("\(root)/region3.hugetlb.json"))
        }
    }

    @Test("a device file has exactly its size and mode 0600, all pages allocated on the region's node")
    func deviceFile() throws {
        try HugetlbTestSupport.withPool { root in
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(6), extents: [], in: region)
            let path = try #require(backend.devicePath(device, in: region))
            #expect(path == "\(root)/region0/dax0.0")
            var status = try #require(Scratch.status(path))
            #expect(status.st_size == 6 << 20)
            #expect(status.st_mode & 0o777 == 0o600)
            #expect(Int(status.st_blocks) * 512 >= 6 << 20, "fallocate allocated every huge page")
            #expect(try HugetlbTestSupport.nodes(of: path) == [0])

            try backend.provisionDevice(device, size: .mebibytes(10), extents: [], in: region)
            status = try #require(Scratch.status(path))
            #expect(status.st_size == 10 << 20 && Int(status.st_blocks) * 512 >= 10 << 20)
            try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: region)
            status = try #require(Scratch.status(path))
            #expect(status.st_size == 4 << 20 && Int(status.st_blocks) * 512 == 4 << 20)

            try backend.setDeviceEnabled(device, enabled: false, in: region)
            #expect(!Scratch.exists(path) && Scratch.exists("\(root)/region0/.dax0.0.disabled"))
            try backend.setDeviceEnabled(device, enabled: true, in: region)
            #expect(Scratch.exists(path))
        }
    }

    @Test("a destroyed device's file is scrubbed into the pool and a create of the same size takes it at once")
    func poolReuse() throws {
        try HugetlbTestSupport.withPool { root in
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let first = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(first, size: .mebibytes(8), extents: [], in: region)
            let path = try #require(backend.devicePath(first, in: region))
            try HugetlbTestSupport.fill(path, with: 0xEE, at: 3 << 20, count: 1 << 20)
            let inode = try #require(Scratch.status(path)).st_ino

            try backend.destroyDevice(first, in: region)
            #expect(!Scratch.exists(path))
            let pooled = HugetlbTestSupport.poolFiles(region)
            #expect(pooled.count == 1 && pooled.first?.hasPrefix("clean.\(8 << 20).") == true)

            let second = DaxPoolCore.DeviceID(region: 0, instance: 1)
            try backend.provisionDevice(second, size: .mebibytes(8), extents: [], in: region)
            let secondPath = try #require(backend.devicePath(second, in: region))
            let status = try #require(Scratch.status(secondPath))
            #expect(status.st_ino == inode, "the pooled file was renamed into place")
            #expect(status.st_size == 8 << 20 && status.st_mode & 0o777 == 0o600)
            #expect(HugetlbTestSupport.poolFiles(region).isEmpty)
            #expect(Scratch.read(8 << 20, from: secondPath).allSatisfy { $0 == 0 })
        }
    }

    @Test("memory that only pooled files hold is evicted for a create or grow of another size")
    func eviction() throws {
        try HugetlbTestSupport.withPool { root in
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let first = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(first, size: .mebibytes(8), extents: [], in: region)
            try backend.destroyDevice(first, in: region)
            #expect(HugetlbTestSupport.poolFiles(region).count == 1, "all 8 MiB of the region are pooled")

            let small = DaxPoolCore.DeviceID(region: 0, instance: 1)
            try backend.provisionDevice(small, size: .mebibytes(4), extents: [], in: region)
            #expect(HugetlbTestSupport.poolFiles(region).isEmpty, "the 8 MiB file was evicted to make room")
            try backend.destroyDevice(small, in: region)
            let grown = DaxPoolCore.DeviceID(region: 0, instance: 2)
            try backend.provisionDevice(grown, size: .mebibytes(4), extents: [], in: region)
            #expect(HugetlbTestSupport.poolFiles(region).isEmpty, "the 4 MiB file was taken from the pool")
            try backend.provisionDevice(grown, size: .mebibytes(8), extents: [], in: region)
            #expect(Scratch.status(try #require(backend.devicePath(grown, in: region)))?.st_size == 8 << 20)
        }
    }

    @Test("a destroyed device that a process still maps is unlinked, never pooled")
    func heldFileIsNotPooled() throws {
        try HugetlbTestSupport.withPool { root in
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: region)
            let path = try #require(backend.devicePath(device, in: region))
            let descriptor = open(path, O_RDWR)
            try #require(descriptor >= 0)
            let mapping = mmap(nil, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
            close(descriptor)
            try #require(mapping != MAP_FAILED)
            defer { munmap(mapping, 4 << 20) }
            try backend.destroyDevice(device, in: region)
            #expect(!Scratch.exists(path))
            #expect(HugetlbTestSupport.poolFiles(region).isEmpty, "a mapped file must not reach another owner")
        }
    }

    @Test("reconcile mounts a vanished mount again and recreates the device files without reserving twice")
    func reconcileAfterUnmount() throws {
        try HugetlbTestSupport.withPool { root in
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let base = HugetlbTestSupport.count(.page2M)
            try backend.provisionDevice(
                DaxPoolCore.DeviceID(region: 0, instance: 0), size: .mebibytes(4), extents: [], in: region)
            try #require(umount2(region.path, Int32(MNT_DETACH)) == 0)
            #expect(Scratch.fileSystemType(region.path) != HugetlbTestSupport.hugetlbfsMagic)

            let kept = HugetlbTestSupport.record(DaxPoolCore.DeviceID(region: 0, instance: 0), state: .disabled)
            try backend.reconcile(region, devices: [(kept, [Scratch.extent(0, .mebibytes(6))])])
            #expect(Scratch.fileSystemType(region.path) == HugetlbTestSupport.hugetlbfsMagic)
            #expect(Scratch.status("\(region.path)/.dax0.0.disabled")?.st_size == 6 << 20)
            #expect(HugetlbTestSupport.count(.page2M) == base, "the pages of this boot are still reserved")

            // A restart with the mount in place: an orphan is kept in lost+found, a crash's dirty file is dropped.
            // The pool directory as the daemon makes it (0700): one anybody else could enter is refused.
            try FileManager.default.createDirectory(
                atPath: "\(region.path)/.pool", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            Scratch.makeFile("\(region.path)/.pool/dirty.0000000000000001", byteCount: 0)
            let orphan = "\(region.path)/dax0.7"
            let descriptor = open(orphan, O_RDWR | O_CREAT, 0o600)
            try #require(descriptor >= 0 && cshim_fallocate(descriptor, 0, 0, 2 << 20) == 0)
            close(descriptor)
            try backend.reconcile(region, devices: [(kept, [Scratch.extent(0, .mebibytes(6))])])
            #expect(!Scratch.exists(orphan))
            #expect(Scratch.status("\(region.path)/lost+found/dax0.7")?.st_size == 2 << 20)
            #expect(HugetlbTestSupport.poolFiles(region).isEmpty)
        }
    }

    @Test("4K pages, sizes that are not whole pages and unknown nodes are refused with a message saying what to do")
    func refusals() throws {
        try HugetlbTestSupport.withPool { root in
            var request = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16))
            request.pageSize = .page4K
            var error = try #require(throws: BackendError.self) { try backend.createRegion(request) }
            #expect(error.errno.rawValue == EINVAL && error.message.contains("2M or 1G"))
            request = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(3))
            error = try #require(throws: BackendError.self) { try backend.createRegion(request) }
            #expect(error.errno.rawValue == EINVAL && error.message.contains("whole number"))
            request = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(4))
            request.targetNode = 4000
            let refusal = try #require(throws: BackendRefusal.self) { try backend.createRegion(request) }
            #expect(refusal.reason == .invalidRequest && refusal.message.contains("node 4000 does not exist"))
            #expect(!Scratch.exists("\(root)/region0"), "nothing is left behind")
        }
    }

    // The same with the real kernel runs in the lab's guest (lab/tests/memory-errors.sh), where taking every free
    // page for a moment harms no other job.
    @Test("when the kernel gives fewer pages than asked, no region is made and the pages it gave go back (fake kernel)")
    func shortfallWithFake() throws {
        try HugetlbTestSupport.withPool { root in
            let pages = HugetlbPagesFake(start: 5, extra: 3)
            let backend = HugetlbBackend(pages: pages)
            let request = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16))
            let error = try #require(throws: BackendError.self) {
                try backend.createRegion(request, vmemmapOptimization: .off)
            }
            #expect(error.errno.rawValue == ENOMEM)
            #expect(error.message.contains("asked the kernel for 8 pages of 2M on NUMA node 0"))
            #expect(error.message.contains("got 3"))
            #expect(pages.current == 5, "the 3 pages the kernel gave were given back")
            #expect(pages.writes == [13, 5])
            #expect(!Scratch.exists(request.path) && !Scratch.exists("\(root)/region0.hugetlb.json"))
            #expect(try HugetlbMountInfo.mounted(at: request.path) == nil)
        }
    }
}

@Suite("hugetlb backend without root", .timeLimit(.minutes(20)))
struct HugetlbPrivilegeTests {
    @Test("a non-root daemon is told that the hugetlb backend needs root and what to use instead")
    func nonRootIsRefused() throws {
        let error = try #require(throws: BackendError.self) {
            try HugetlbBackend.checkPrivilege(effectiveUserID: 1000, operation: "create-region", path: "/run/x")
        }
        #expect(error.errno.rawValue == EPERM)
        #expect(error.operation == "create-region" && error.path == "/run/x")
        #expect(error.message.contains("needs root") && error.message.contains("--backend shm"))
        try HugetlbBackend.checkPrivilege(effectiveUserID: 0, operation: "create-region", path: "/run/x")
    }
}

/// A kernel pool that gives at most `extra` more pages than it started with, and records every write.
final class HugetlbPagesFake: HugetlbPageCounter, Sendable {
    private let state: Mutex<(count: Int, writes: [Int])>
    let start: Int
    let extra: Int

    init(start: Int, extra: Int) {
        state = Mutex((start, []))
        self.start = start
        self.extra = extra
    }

    var current: Int { state.withLock { $0.count } }
    var writes: [Int] { state.withLock { $0.writes } }

    func count(node: Int, pageSize: Alignment) throws(BackendError) -> Int { current }

    func setCount(_ count: Int, node: Int, pageSize: Alignment) throws(BackendError) {
        state.withLock { state in
            state.writes.append(count)
            state.count = min(count, start + extra)
        }
    }
}

/// Shared helpers of the tests that touch the host's huge page pool, written with plain libc so that they check
/// the code under test instead of reusing it.
enum HugetlbTestSupport {
    static var isRoot: Bool { geteuid() == 0 }
    static let rootReason: Comment =
        "needs root: reserving huge pages writes /sys/devices/system/node/*/hugepages and mounting hugetlbfs needs CAP_SYS_ADMIN"
    static let hugetlbfsMagic = 0x9584_58f6
    /// Serialises every test, in this and other test processes, that changes the host's huge page pool.
    static let lockPath = "/tmp/daxpool-hugetlb-tests.lock"

    /// Runs `body` holding the pool lock, with a fresh root directory that is unmounted and removed afterwards
    /// whatever happens.
    static func withPool(_ body: (String) throws -> Void) throws {
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        precondition(lock >= 0, "open \(lockPath): \(errno)")
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        let root = "/tmp/daxpool-hugetlb-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let before = (count(.page2M), count(.page1G))
        defer {
            cleanUp(root)
            if count(.page2M) != before.0 { setCount(before.0, .page2M) }
            if count(.page1G) != before.1 { setCount(before.1, .page1G) }
        }
        try body(root)
    }

    /// Unmounts everything under `root` and removes it.
    static func cleanUp(_ root: String) {
        let mounts = (try? HugetlbMountInfo.all()) ?? []
        for mount in mounts.reversed() where mount.mountPoint.hasPrefix(root + "/") {
            umount2(mount.mountPoint, Int32(MNT_DETACH))
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// `/sys/devices/system/node/node0/hugepages/hugepages-<kB>kB/nr_hugepages`.
    static func path(_ pageSize: Alignment) -> String {
        "/sys/devices/system/node/node0/hugepages/hugepages-\(pageSize.rawValue >> 10)kB/nr_hugepages"
    }

    static func count(_ pageSize: Alignment) -> Int {
        let text = String(decoding: Scratch.read(64, from: path(pageSize)), as: UTF8.self)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func setCount(_ value: Int, _ pageSize: Alignment) {
        let descriptor = open(path(pageSize), O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let text = "\(value)\n"
        _ = text.withCString { write(descriptor, $0, strlen($0)) }
    }

    /// A hugetlb region config at `path`.
    static func region(_ path: String, id: Int = 0, size: ByteCount, pageSize: Alignment = .page2M) -> RegionConfig {
        RegionConfig(
            id: id, backend: .hugetlb, size: size, align: .page1G, pageSize: pageSize, targetNode: nil, path: path)
    }

    static func record(_ id: DaxPoolCore.DeviceID, state: DeviceState = .enabled) -> DeviceRecord {
        DeviceRecord(
            id: id,
            uuid: LabelUUID(high: 0x1234_5678_9abc_4def, low: 0x8000_0000_0000_0000 | UInt64(id.instance)),
            name: nil,
            align: .page2M,
            state: state
        )
    }

    /// The names in the region's `.pool` directory.
    static func poolFiles(_ region: RegionConfig) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(region.path)/.pool")) ?? []).sorted()
    }

    /// Destroys every device file in the region through the backend, then the region.
    static func destroyAll(_ backend: HugetlbBackend, _ region: RegionConfig) throws {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: region.path)) ?? [] {
            var body = Substring(name)
            if body.hasPrefix(".") && body.hasSuffix(".disabled") {
                body = body.dropFirst().dropLast(".disabled".count)
            }
            if let device = DaxPoolCore.DeviceID(parsing: String(body)) {
                try backend.destroyDevice(device, in: region)
            }
        }
        try backend.destroyRegion(region)
    }

    /// Stores `count` bytes of `byte` at `offset` of the file at `path` through a shared mapping (hugetlbfs has
    /// no `write(2)`).
    static func fill(_ path: String, with byte: UInt8, at offset: Int = 0, count: Int) throws {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw HugetlbTestError("open \(path): \(errno)") }
        defer { close(descriptor) }
        let length = Int(Scratch.status(path)?.st_size ?? 0)
        let mapping = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        guard let mapping, mapping != MAP_FAILED else { throw HugetlbTestError("mmap \(path): \(errno)") }
        defer { munmap(mapping, length) }
        (mapping + offset).initializeMemory(as: UInt8.self, repeating: byte, count: count)
    }

    /// The NUMA nodes holding the pages of the file at `path` (`get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR)` on
    /// each huge page of a shared mapping).
    static func nodes(of path: String) throws -> Set<Int> {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw HugetlbTestError("open \(path): \(errno)") }
        defer { close(descriptor) }
        let length = Int(Scratch.status(path)?.st_size ?? 0)
        let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0)
        guard let mapping, mapping != MAP_FAILED else { throw HugetlbTestError("mmap \(path): \(errno)") }
        defer { munmap(mapping, length) }
        var nodes: Set<Int> = []
        for offset in stride(from: 0, to: length, by: 2 << 20) {
            _ = mapping.load(fromByteOffset: offset, as: UInt8.self)
            nodes.insert(try NUMANodes.node(holding: mapping + offset))
        }
        return nodes
    }
}

struct HugetlbTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
