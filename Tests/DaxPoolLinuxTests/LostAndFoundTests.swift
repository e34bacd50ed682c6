import CLinuxShims
import DaxPoolCore
import DaxPoolLinux
import DaxPoolTestSupport
import Foundation
import Glibc
import Testing

/// A start never destroys memory that no record accounts for: device files no device owns move, untouched, to the
/// region's `lost+found` (or are retired under the pending scrub that accounts for them); a file larger than its
/// record is left as it is and reported; in `.keep` mode nothing in the region directory changes at all.
@Suite("start-up reconcile keeps what no record accounts for", .timeLimit(.minutes(20)), .serialized)
struct LostAndFoundTests {
    let backend = ShmBackend(scrubThreads: 2)

    @Test("an orphan device file with a tenant's bytes moves untouched to lost+found and is listed with its size")
    func orphanMovesToLostAndFound() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let orphan = try Self.makeTenantFile("\(root)/dax0.5", size: 3 << 20, seed: 5)
        let disabled = try Self.makeTenantFile("\(root)/.dax0.6.disabled", size: 2 << 20, seed: 6)

        let report = try backend.reconcile(region, devices: [], pendingScrubs: [], mode: .normal)

        #expect(!Scratch.exists("\(root)/dax0.5") && !Scratch.exists("\(root)/.dax0.6.disabled"))
        for (name, before) in [("dax0.5", orphan), (".dax0.6.disabled", disabled)] {
            #expect(Self.snapshot("\(root)/lost+found/\(name)") == before, "\(name) is the same file, untouched")
        }
        let expected = [
            LostFile(
                name: ".dax0.6.disabled", originalName: ".dax0.6.disabled", path: "\(root)/lost+found/.dax0.6.disabled",
                size: .mebibytes(2)),
            LostFile(name: "dax0.5", originalName: "dax0.5", path: "\(root)/lost+found/dax0.5", size: .mebibytes(3)),
        ]
        #expect(report.lostAndFound.sorted { $0.name < $1.name } == expected)
        #expect(report.doubts.isEmpty)
        #expect(backend.lostFiles(in: region) == expected)
        #expect(backend.readyFiles(in: region).isEmpty, "nothing went to the pool")
        let directory = try #require(Scratch.status("\(root)/lost+found"))
        #expect(directory.st_mode & 0o7777 == 0o700 && directory.st_uid == geteuid())

        // Another orphan of the same name later: the first one stays, the new one gets a suffix.
        let again = try Self.makeTenantFile("\(root)/dax0.5", size: 1 << 20, seed: 7)
        let second = try backend.reconcile(region, devices: [], pendingScrubs: [], mode: .normal)
        #expect(second.lostAndFound.map(\.name) == ["dax0.5~1"])
        #expect(second.lostAndFound.map(\.originalName) == ["dax0.5"])
        #expect(Self.snapshot("\(root)/lost+found/dax0.5~1") == again)
        #expect(Self.snapshot("\(root)/lost+found/dax0.5") == orphan)
        #expect(backend.lostFiles(in: region).map(\.name) == [".dax0.6.disabled", "dax0.5", "dax0.5~1"])
    }

    @Test(
        "a lost+found someone else prepared (a symbolic link elsewhere, an open directory) takes nothing: the orphan stays in place, reported"
    )
    func foreignLostAndFoundTakesNothing() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let elsewhere = try Scratch.makeDirectory()
        defer { Scratch.remove(elsewhere) }
        for prepare in ["symlink", "open directory"] {
            Scratch.remove("\(root)/lost+found")
            if prepare == "symlink" {
                #expect(symlink(elsewhere, "\(root)/lost+found") == 0)
            } else {
                #expect(mkdir("\(root)/lost+found", 0o777) == 0 && chmod("\(root)/lost+found", 0o777) == 0)
            }
            Scratch.remove("\(root)/dax0.5")
            let orphan = try Self.makeTenantFile("\(root)/dax0.5", size: 1 << 20, seed: 9)

            let report = try backend.reconcile(region, devices: [], pendingScrubs: [], mode: .normal)

            #expect(Self.snapshot("\(root)/dax0.5") == orphan, "\(prepare): the orphan left its place or changed")
            #expect(report.lostAndFound.isEmpty, "\(prepare)")
            #expect(report.doubts.contains { $0.contains("dax0.5") }, "\(prepare): \(report.doubts)")
            #expect(
                (try? FileManager.default.contentsOfDirectory(atPath: elsewhere))?.isEmpty == true,
                "\(prepare): something was moved through the link")
        }
    }

    @Test("an orphan whose device has a pending scrub is retired under the scrub's token, and the scrub zeroes it")
    func orphanWithPendingScrubIsRetired() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let device = DeviceID(region: 0, instance: 3)
        let orphan = try Self.makeTenantFile("\(root)/dax0.3", size: 4 << 20, seed: 3)
        let token = "00000000000000ab"
        let scrubs = [
            PendingScrub(
                id: 1, device: device, deviceUUID: LabelUUID(high: 1, low: 3), deviceName: nil,
                extents: [Scratch.extent(0, .mebibytes(4))], token: token),
            PendingScrub(
                id: 2, device: DeviceID(region: 0, instance: 9), deviceUUID: LabelUUID(high: 1, low: 9),
                deviceName: nil, extents: [Scratch.extent(8 << 20, .mebibytes(4))], token: "00000000000000cd"),
        ]

        let report = try backend.reconcile(region, devices: [], pendingScrubs: scrubs, mode: .normal)

        #expect(!Scratch.exists("\(root)/dax0.3"))
        #expect(Self.snapshot("\(root)/.pool/dirty.\(token)") == orphan, "hidden under the scrub's token, untouched")
        #expect(report.lostAndFound.isEmpty && report.doubts.isEmpty)
        #expect(backend.lostFiles(in: region).isEmpty)
        try backend.scrubRetired(token: token, size: .mebibytes(4), in: region) { _, _ in }
        #expect(backend.readyFiles(in: region) == [.mebibytes(4)], "the scrub service finds it and pools it")
    }

    @Test("a device file larger than its record is left as it is and reported; smaller and missing ones are made")
    func largerFileIsADoubt() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let larger = try Self.makeTenantFile("\(root)/dax0.0", size: 4 << 20, seed: 10)
        _ = try Self.makeTenantFile("\(root)/.dax0.1.disabled", size: 1 << 20, seed: 11)
        let smallerBytes = Scratch.read(1 << 20, from: "\(root)/.dax0.1.disabled")

        let report = try backend.reconcile(
            region,
            devices: [
                (Scratch.record(0), [Scratch.extent(0, .mebibytes(2))]),
                (Scratch.record(1), [Scratch.extent(2 << 20, .mebibytes(2))]),
                (Scratch.record(2), [Scratch.extent(4 << 20, .mebibytes(2))]),
            ],
            pendingScrubs: [], mode: .normal)

        #expect(Self.snapshot("\(root)/dax0.0") == larger, "not truncated, not touched")
        // A sound region's record was checked against its second copy: the bigger file is its owner's growth, reported
        // (and cut back on destroy), not a doubt a tenant could use to stop every change in the region.
        #expect(report.doubts.isEmpty, "\(report.doubts)")
        #expect(report.notes.contains { $0.contains("dax0.0") && $0.contains("grew") }, "\(report.notes)")
        let grown = try #require(Scratch.status("\(root)/dax0.1"))
        #expect(grown.st_size == 2 << 20 && grown.st_blocks * 512 >= 2 << 20, "renamed to its state and grown")
        #expect(Scratch.read(1 << 20, from: "\(root)/dax0.1") == smallerBytes, "its bytes kept")
        #expect(Scratch.status("\(root)/dax0.2")?.st_size == 2 << 20, "a missing file is recreated")
        #expect(report.lostAndFound.isEmpty)
    }

    @Test("a device with files under both names keeps both: the one its state does not ask for goes to lost+found")
    func bothNamesKept() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let enabled = try Self.makeTenantFile("\(root)/dax0.1", size: 2 << 20, seed: 21)
        let disabled = try Self.makeTenantFile("\(root)/.dax0.1.disabled", size: 2 << 20, seed: 22)

        let report = try backend.reconcile(
            region, devices: [(Scratch.record(1), [Scratch.extent(0, .mebibytes(2))])], pendingScrubs: [],
            mode: .normal)

        #expect(Self.snapshot("\(root)/dax0.1") == enabled)
        #expect(Self.snapshot("\(root)/lost+found/.dax0.1.disabled") == disabled, "never unlinked")
        #expect(report.lostAndFound.map(\.name) == [".dax0.1.disabled"])
        #expect(!Scratch.exists("\(root)/.dax0.1.disabled"))
    }

    @Test("in keep mode nothing in the region directory changes: names, sizes, contents and inodes")
    func keepChangesNothing() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let devices = try Self.makeMixedDirectory(root)
        let before = Self.tree(root)

        let report = try backend.reconcile(
            region, devices: devices, pendingScrubs: Self.scrubOfOrphan, mode: .keep)

        let after = Self.tree(root)
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        #expect(
            changed.isEmpty,
            "\(changed.map { "\($0): \(before[$0].map(\.description) ?? "-") -> \(after[$0].map(\.description) ?? "-")" })"
        )
        #expect(report.lostAndFound.isEmpty)
        #expect(report.notes.contains { $0.contains("dax0.0") }, "the larger file is reported: \(report.notes)")
        #expect(report.notes.contains { $0.contains("dax0.7") }, "the orphan is reported: \(report.notes)")
    }

    @Test(
        "as root, in the region's own tmpfs mount: a tenant holding its orphan open still reads it after the move",
        .enabled(if: ThrowawayUser.isAvailable, "needs root and useradd: the tenant is a throwaway user")
    )
    func tenantKeepsReadingAfterTheMove() throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let root = try Scratch.makeDirectory()
        defer { Self.unmountAndRemove(root) }
        let backend = ShmBackend(directoryMode: 0o711, scrubThreads: 2, mountsRegions: true)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(32)))
        let orphan = "\(region.path)/dax0.4"
        _ = try Self.makeTenantFile(orphan, size: 4 << 20, seed: 4)
        try #require(chown(orphan, tenant.uid, tenant.gid) == 0)
        let program = try TenantProgram(tenant, mode: "fd", path: orphan, keep: "")
        defer { program.stop() }
        let ready = try program.readLine()
        try #require(ready.hasPrefix("ready "), "the tenant program: \(ready) \(program.errors())")
        let before = try #require(Self.snapshot(orphan))

        let report = try backend.reconcile(region, devices: [], pendingScrubs: [], mode: .normal)

        let moved = "\(region.path)/lost+found/dax0.4"
        #expect(report.lostAndFound.map(\.path) == [moved])
        let after = try #require(Self.snapshot(moved), "the orphan is in lost+found")
        #expect(after == before, "the same file, one name, the tenant's bytes")
        #expect(ready == "ready \(before.inode)", "the tenant's descriptor is on that file")
        #expect(Scratch.status(moved)?.st_dev == Scratch.status(region.path)?.st_dev, "moved on the region's mount")
        #expect(try program.ask("check TENANT-SECRET!!!") == "seen", "the tenant still reads its bytes")
        #expect(Scratch.read(16, from: moved) == Array("TENANT-SECRET!!!".utf8))
    }

    @Test(
        "hugetlb: an orphan moves untouched to lost+found; in keep mode nothing changes",
        .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason)
    )
    func hugetlbOrphan() throws {
        try HugetlbTestSupport.withPool { root in
            let backend = HugetlbBackend(scrubThreads: 2)
            let region = try backend.createRegion(
                HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(16)), vmemmapOptimization: .off)
            defer { try? HugetlbTestSupport.destroyAll(backend, region) }
            let kept = DeviceID(region: 0, instance: 0)
            try backend.provisionDevice(kept, size: .mebibytes(2), extents: [], in: region)
            let orphan = "\(region.path)/dax0.7"
            let descriptor = open(orphan, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            try #require(descriptor >= 0 && cshim_fallocate(descriptor, 0, 0, 4 << 20) == 0)
            close(descriptor)
            try HugetlbTestSupport.fill(orphan, with: 0x5a, at: 3 << 20, count: 4096)
            let devices = [(HugetlbTestSupport.record(kept), [Scratch.extent(0, .mebibytes(2))])]

            let before = Self.tree(region.path)
            let keep = try backend.reconcile(region, devices: devices, pendingScrubs: [], mode: .keep)
            #expect(Self.tree(region.path) == before, "keep mode changes nothing")
            #expect(keep.lostAndFound.isEmpty)

            let snapshot = try #require(Self.snapshot(orphan))
            let report = try backend.reconcile(region, devices: devices, pendingScrubs: [], mode: .normal)
            #expect(!Scratch.exists(orphan))
            let moved = try #require(Self.snapshot("\(region.path)/lost+found/dax0.7"), "the orphan is in lost+found")
            #expect(moved == snapshot)
            #expect(Scratch.read(4096, from: "\(region.path)/lost+found/dax0.7", at: 3 << 20).allSatisfy { $0 == 0x5a })
            #expect(report.lostAndFound.map(\.size) == [.mebibytes(4)])
            #expect(backend.lostFiles(in: region) == report.lostAndFound)
            #expect(HugetlbTestSupport.poolFiles(region).isEmpty, "nothing went to the pool")
        }
    }

    // MARK: - Helpers

    /// A file as the tests compare it: length, inode, link count and every byte.
    struct FileSnapshot: Equatable, CustomStringConvertible {
        var size: Int
        var inode: UInt
        var links: UInt
        var bytes: [UInt8]

        var description: String {
            let sum = bytes.reduce(into: UInt64(0)) { $0 = $0 &* 31 &+ UInt64($1) }
            return "\(size) bytes, inode \(inode), \(links) link(s), content sum \(String(sum, radix: 16))"
        }
    }

    /// Creates `path` (mode 0600) of `size` bytes, all allocated, with a pattern from `seed` in its first and last
    /// page and its middle, as a tenant's memory would hold.
    static func makeTenantFile(_ path: String, size: Int, seed: UInt8) throws -> FileSnapshot {
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw HugetlbTestError("open \(path): \(errno)") }
        defer { close(descriptor) }
        guard cshim_fallocate(descriptor, 0, 0, off_t(size)) == 0 else {
            throw HugetlbTestError("fallocate \(path): \(errno)")
        }
        let page = (0..<4096).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ $0) }
        for offset in [0, size / 2, size - 4096] { Scratch.write(page, to: path, at: offset) }
        guard let snapshot = snapshot(path) else { throw HugetlbTestError("\(path) is gone") }
        return snapshot
    }

    /// The file at `path`, or `nil` when nothing is there.
    static func snapshot(_ path: String) -> FileSnapshot? {
        guard let status = Scratch.status(path) else { return nil }
        let size = Int(status.st_size)
        let bytes = status.st_mode & S_IFMT == S_IFREG ? readAll(path, size: size) : []
        return FileSnapshot(size: size, inode: UInt(status.st_ino), links: UInt(status.st_nlink), bytes: bytes)
    }

    /// The first `size` bytes of the file at `path`, read until they are all there (or the file ends).
    static func readAll(_ path: String, size: Int) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress.map { $0 + done }, size - done, off_t(done))
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { break }
            done += got
        }
        return Array(bytes.prefix(done))
    }

    /// Every entry under `root`, recursively, by relative path.
    static func tree(_ root: String) -> [String: FileSnapshot] {
        var entries: [String: FileSnapshot] = [:]
        func walk(_ relative: String) {
            let absolute = relative.isEmpty ? root : "\(root)/\(relative)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? [] {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                guard let snapshot = snapshot("\(root)/\(path)") else { continue }
                entries[path] = snapshot
                if Scratch.status("\(root)/\(path)").map({ $0.st_mode & S_IFMT == S_IFDIR }) == true { walk(path) }
            }
        }
        walk("")
        return entries
    }

    /// A pending scrub naming `dax0.7`, the orphan of `makeMixedDirectory`.
    static let scrubOfOrphan = [
        PendingScrub(
            id: 1, device: DeviceID(region: 0, instance: 7), deviceUUID: LabelUUID(high: 1, low: 7), deviceName: nil,
            extents: [Scratch.extent(32 << 20, .mebibytes(2))], token: "00000000000000ef")
    ]

    /// Everything a start may find: a file larger than its record (dax0.0), one under the other name and smaller
    /// (dax0.1), both names (dax0.2), a missing one (dax0.3), orphans with (dax0.7) and without (dax0.8) a pending
    /// scrub, a half-scrubbed and a half-filled pool file, and a file that is not daxpool's.
    /// - Returns: the persisted devices.
    static func makeMixedDirectory(_ root: String) throws -> [(record: DeviceRecord, extents: [Extent])] {
        _ = try makeTenantFile("\(root)/dax0.0", size: 4 << 20, seed: 30)
        _ = try makeTenantFile("\(root)/.dax0.1.disabled", size: 1 << 20, seed: 31)
        _ = try makeTenantFile("\(root)/dax0.2", size: 2 << 20, seed: 32)
        _ = try makeTenantFile("\(root)/.dax0.2.disabled", size: 2 << 20, seed: 33)
        _ = try makeTenantFile("\(root)/dax0.7", size: 2 << 20, seed: 37)
        _ = try makeTenantFile("\(root)/dax0.8", size: 2 << 20, seed: 38)
        try FileManager.default.createDirectory(
            atPath: "\(root)/.pool", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        _ = try makeTenantFile("\(root)/.pool/dirty.0000000000000001", size: 2 << 20, seed: 40)
        _ = try makeTenantFile("\(root)/.pool/filling.0000000000000002", size: 2 << 20, seed: 41)
        Scratch.makeFile("\(root)/notes.txt", byteCount: 10)
        return [
            (Scratch.record(0), [Scratch.extent(0, .mebibytes(2))]),
            (Scratch.record(1), [Scratch.extent(2 << 20, .mebibytes(2))]),
            (Scratch.record(2), [Scratch.extent(4 << 20, .mebibytes(2))]),
            (Scratch.record(3), [Scratch.extent(6 << 20, .mebibytes(2))]),
        ]
    }

    /// Unmounts the region mount under `root` (detached if busy) and removes `root`.
    static func unmountAndRemove(_ root: String) {
        umount2("\(root)/region0", Int32(MNT_DETACH))
        Scratch.remove(root)
    }
}
