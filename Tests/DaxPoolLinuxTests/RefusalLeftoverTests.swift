// `struct stat` is declared by the first clang module that includes <sys/stat.h>: in this target, CDispatch.
import CDispatch
import CLinuxShims
import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Glibc
import Logging
import Testing

/// A refused request leaves the files exactly as they were, on a full disk too: the region directory (device files,
/// the pool's ready files) and the state directory (no `.tmp` left, and a stale one is removed at load).
@Suite("refusals leave no file behind", .timeLimit(.minutes(20)), .serialized)
struct RefusalLeftoverTests {
    static let needsRoot = "needs root to mount a small tmpfs"

    // MARK: - Device creates on a full region

    @Test(
        "a create the region's own tmpfs cannot hold keeps the pool's ready files and leaves the directory as it was",
        .enabled(if: geteuid() == 0, Comment(rawValue: needsRoot))
    )
    func fullRegionKeepsReadyFiles() throws {
        let root = try Scratch.makeDirectory()
        defer { Self.unmountAndRemove(root, "\(root)/region0") }
        let backend = ShmBackend(scrubThreads: 1, mountsRegions: true)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(32)))
        let directory = "\(root)/region0"
        // A destroyed 8 MiB device leaves a ready file in the pool.
        try backend.provisionDevice(
            DaxPoolCore.DeviceID(region: 0, instance: 0), size: .mebibytes(8), extents: [], in: region)
        try backend.destroyDevice(DaxPoolCore.DeviceID(region: 0, instance: 0), in: region)
        #expect(backend.readyFiles(in: region) == [.mebibytes(8)])
        // A tenant grows its 4 MiB device to 20 MiB: 28 of the tmpfs's 32 MiB are used.
        let tenant = DaxPoolCore.DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(tenant, size: .mebibytes(4), extents: [], in: region)
        try Self.grow("\(directory)/dax0.1", to: 20 << 20)
        let before = Self.listing(directory)

        // 16 MiB cannot fit even with the ready file gone: the create is refused, and the pool keeps its file.
        let error = try #require(throws: BackendError.self) {
            try backend.provisionDevice(
                DaxPoolCore.DeviceID(region: 0, instance: 2), size: .mebibytes(16), extents: [], in: region)
        }
        #expect(error.errno.rawValue == ENOSPC, "\(error)")
        #expect(Self.listing(directory) == before)
        #expect(backend.readyFiles(in: region) == [.mebibytes(8)])
    }

    @Test(
        "a device create whose state commit fails on a full disk leaves no file in the region directory",
        .enabled(if: geteuid() == 0, Comment(rawValue: needsRoot))
    )
    func fullStateDiskLeavesNoDeviceFile() async throws {
        let root = try Scratch.makeDirectory()
        let state = "\(root)/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        guard mount("tmpfs", state, "tmpfs", 0, "size=1m,mode=0700") == 0 else {
            Scratch.remove(root)
            try Test.cancel("cannot mount a tmpfs here: \(String(cString: strerror(errno)))")
        }
        defer { Self.unmountAndRemove(root, state) }
        let backend = ShmBackend(scrubThreads: 1)
        let service = try await PoolService(
            backends: [backend],
            store: LedgerStateStore(directory: state, areaSize: 16 << 10),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: root, hugetlbRoot: root),
            logger: Logger(label: "test")
        )
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64), path: "\(root)/region0"))
        let region = "\(root)/region0"
        let before = Self.listing(region)
        Self.fill(state)

        await #expect(throws: (any Error).self) {
            _ = try await service.createDevice(
                CreateDeviceRequest(size: ByteCount.mebibytes(8), name: try DeviceName(validating: "refused")))
        }
        #expect(await service.devices().isEmpty)
        #expect(Self.listing(region) == before, "the device file is neither left nor kept in the pool")
    }

    @Test("destroying a revoked device unlinks its empty file without making the pool directory")
    func revokedDeviceLeavesNoPoolDirectory() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let backend = ShmBackend(scrubThreads: 1)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(32)))
        let before = Self.listing("\(root)/region0")
        let device = DaxPoolCore.DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: .mebibytes(8), extents: [], in: region)
        try backend.revokeDevice(device, in: region)
        try backend.destroyDevice(device, in: region)
        #expect(Self.listing("\(root)/region0") == before)
    }

    // MARK: - The label store's temporary files

    @Test(
        "a create-region whose label area cannot be written on a full disk leaves no region<R>.labels.tmp",
        .enabled(if: geteuid() == 0, Comment(rawValue: needsRoot))
    )
    func fullStateDiskLeavesNoLabelTemporary() throws {
        let root = try Scratch.makeDirectory()
        guard mount("tmpfs", root, "tmpfs", 0, "size=256k,mode=0700") == 0 else {
            Scratch.remove(root)
            try Test.cancel("cannot mount a tmpfs here: \(String(cString: strerror(errno)))")
        }
        defer { Self.unmountAndRemove(root, root) }
        let store = LabelStateStore(directory: root, areaSize: 16 << 10)
        try store.commit(Self.snapshot(regions: [0]))
        let before = Self.listing(root)
        Self.fill(root, name: ".filler")
        let filled = Self.listing(root)

        #expect(throws: LabelStateStoreError.self) { try store.commit(Self.snapshot(regions: [0, 1])) }
        #expect(!Scratch.exists("\(root)/region1.labels.tmp"))
        #expect(Self.listing(root) == filled)
        Scratch.remove("\(root)/.filler")
        #expect(Self.listing(root) == before)
        #expect(try store.load() == Self.snapshot(regions: [0]))
    }

    @Test("loading the label store removes the temporary files a crashed commit left, and nothing else")
    func loadRemovesStaleTemporaries() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let store = LabelStateStore(directory: root, areaSize: 16 << 10)
        try store.commit(Self.snapshot(regions: [0]))
        for name in ["region3.labels.tmp", "regions.json.tmp", "notes.tmp", "region3.labels.tmp.keep"] {
            Scratch.makeFile("\(root)/\(name)", byteCount: 100)
        }

        let again = LabelStateStore(directory: root, areaSize: 16 << 10)
        #expect(try again.load() == Self.snapshot(regions: [0]))
        #expect(!Scratch.exists("\(root)/region3.labels.tmp"))
        #expect(!Scratch.exists("\(root)/regions.json.tmp"))
        #expect(Scratch.exists("\(root)/notes.tmp") && Scratch.exists("\(root)/region3.labels.tmp.keep"))
    }

    // MARK: - Helpers

    /// Every name under `directory` (relative, recursively) with its size and the memory it holds.
    static func listing(_ directory: String) -> [String: String] {
        var result: [String: String] = [:]
        for name in (try? FileManager.default.subpathsOfDirectory(atPath: directory)) ?? [] {
            var status = stat()
            guard lstat("\(directory)/\(name)", &status) == 0 else { continue }
            let isDirectory = status.st_mode & S_IFMT == S_IFDIR
            result[name] = isDirectory ? "directory" : "\(status.st_size) bytes, \(status.st_blocks * 512) held"
        }
        return result
    }

    /// Grows the file at `path` to `size` bytes, all allocated, as its owner can.
    static func grow(_ path: String, to size: Int) throws {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        #expect(cshim_fallocate(descriptor, 0, 0, off_t(size)) == 0, "fallocate: \(errno)")
    }

    /// Fills the filesystem holding `directory` with the file `name` until it has no room left.
    static func fill(_ directory: String, name: String = "filler") {
        let descriptor = open("\(directory)/\(name)", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        precondition(descriptor >= 0, "open filler: \(errno)")
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0xa5, count: 4096)
        while chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// A state with shm regions `ids` and no devices.
    static func snapshot(regions ids: [Int]) -> PoolSnapshot {
        PoolSnapshot(
            regions: ids.map { id in
                RegionSnapshot(
                    config: Scratch.region("/dev/shm/unused/region\(id)", id: id), devices: [], badBlocks: [])
            })
    }

    /// Detaches whatever is mounted at `mountPoint`, then removes `root`.
    static func unmountAndRemove(_ root: String, _ mountPoint: String) {
        umount2(mountPoint, CInt(MNT_DETACH))
        Scratch.remove(root)
    }
}
