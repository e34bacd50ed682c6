// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// A backend whose devices are files in one directory per region, with a pool of ready memory beside them
/// (`ScrubPool`): shm on tmpfs and hugetlb on hugetlbfs. Everything but where the directory comes from, which
/// node the memory is on and how a failed commit is explained is the same for both, and lives here.
///
/// - **Provision**: a new device of exactly a pooled size takes a ready file; otherwise the pool makes room and
///   `fallocate(2)` commits the pages (`FileBackedDevices.commit`).
/// - **Destroy**: the file is renamed into the pool as `dirty.<token>` at once (`retireDevice`), and zeroed later
///   off the request path (`scrubRetired`); it then becomes a ready file.
/// - **Fill**: the pool makes ready files of the sizes the region names (`RegionConfig.pool`) in the background.
protocol PooledFileBackend: MemoryBackend {
    var logger: Logger { get }
    var scrubber: Scrubber { get }
    var scrubThreads: Int { get }
    /// Whether destroyed devices' files are scrubbed and kept (`false`: unlinked, and no pool is kept).
    var keepsScrubbedFiles: Bool { get }
    var watcher: DeviceMemoryWatcher? { get }

    /// The region's directory of device files, checked as every device operation needs it.
    func deviceDirectory(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath

    /// The NUMA node the region's memory must come from, or `nil` for the default policy.
    func memoryNode(of region: RegionConfig) -> Int?

    /// A destroyed device's file smaller than this goes back to the kernel instead of the pool.
    static var minimumKeptSize: Int64 { get }

    /// The error for a commit that failed with `error`, saying how much was asked and what is free.
    func commitError(
        _ device: DaxPoolCore.DeviceID, at path: FilePath, size: ByteCount, region: RegionConfig, _ error: Errno,
        operation: String
    ) -> BackendError
}

extension PooledFileBackend {
    /// The region's path, lexically normalized, when it is absolute; else an `invalidArgument` error that suggests
    /// `example` (what the path should be: "a directory on tmpfs", "a mount point").
    func absoluteRegionPath(_ region: RegionConfig, operation: String, example: String) throws(BackendError)
        -> FilePath
    {
        let path = FilePath(region.path)
        guard path.isAbsolute else {
            throw BackendError(
                operation, path, .invalidArgument, "region path '\(region.path)' is not absolute: give \(example)")
        }
        return path.lexicallyNormalized()
    }

    /// `reconcile(_:devices:pendingScrubs:mode:)`, which each file backend implements, in `.normal` mode without
    /// pending scrubs.
    public func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {
        _ = try reconcile(region, devices: devices, pendingScrubs: [], mode: .normal)
    }

    /// The pool of the region whose device files are in `directory`.
    func pool(_ directory: FilePath) -> ScrubPool {
        ScrubPool(
            regionDirectory: directory, scrubber: scrubber, threads: scrubThreads, logger: logger,
            minimumKeptSize: Self.minimumKeptSize)
    }

    /// How the region's devices are committed: from and around its pool, on its node.
    func commitPolicy(_ region: RegionConfig, directory: FilePath) -> FileCommitPolicy {
        FileCommitPolicy(
            pool: keepsScrubbedFiles ? pool(directory) : nil,
            regionSize: Int64(clamping: region.size.rawValue),
            pageSize: Int64(clamping: region.pageSize.rawValue),
            node: memoryNode(of: region)
        )
    }

    /// Makes the device file at `path` exactly `size` bytes, all committed (`FileBackedDevices.commit`).
    func commitFile(
        _ device: DaxPoolCore.DeviceID,
        at path: FilePath,
        size: ByteCount,
        creating: Bool,
        region: RegionConfig,
        operation: String,
        progress: (ByteCount, ByteCount) -> Void = { _, _ in }
    ) throws(BackendError) {
        let directory = path.removingLastComponent()
        try FileBackedDevices(directory: directory, logger: logger).commit(
            device, at: path, size: size, creating: creating, policy: commitPolicy(region, directory: directory),
            operation: operation,
            describe: { error in
                commitError(device, at: path, size: size, region: region, error, operation: operation)
            },
            progress: progress)
    }

    /// `<region directory>/daxR.N`.
    public func devicePath(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) -> String? {
        FilePath(region.path).lexicallyNormalized().appending(ShmDeviceFiles.enabledName(device)).string
    }

    /// Creates the device file (mode 0600) or resizes the existing one, enabled or disabled, to exactly `size`
    /// bytes, all committed. `extents` are not needed: the device's memory is its file, and the region offsets are
    /// daxpool's own.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        extents: [Extent],
        in region: RegionConfig
    ) throws(BackendError) {
        try provisionFile(device, size: size, region: region) { _, _ in }
    }

    /// `provisionDevice`, telling `progress` (bytes committed, total) after each `HugetlbBackend.prefaultChunk`
    /// that `fallocate(2)` committed; a file taken from the pool is done at once.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        extents: [Extent],
        align: Alignment,
        in region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        try provisionFile(device, size: size, region: region, progress: progress)
    }

    /// Creates or resizes the device's file (the work of both `provisionDevice`s).
    func provisionFile(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let directory = try deviceDirectory(region, operation: "provision-device")
        try provisionFile(device, size: size, region: region, in: directory, progress: progress)
    }

    /// Creates or resizes the device's file in `directory` (the region's, or one of its parts'), and watches it.
    func provisionFile(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        region: RegionConfig,
        in directory: FilePath,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let operation = "provision-device"
        let devices = FileBackedDevices(directory: directory, logger: logger)
        let existing = try devices.existingFile(of: device, operation: operation)
        let path = existing ?? devices.files(of: device).enabled
        try commitFile(
            device, at: path, size: size, creating: existing == nil, region: region, operation: operation,
            progress: progress)
        watcher?.watch(device, path: path, size: size)
    }

    /// The larger of the device file's length and the memory it holds (`st_blocks`): more than the device's size
    /// when its owner grew the file.
    public func memoryHeld(by device: DaxPoolCore.DeviceID, in region: RegionConfig) -> ByteCount? {
        guard let directory = try? deviceDirectory(region, operation: "list") else { return nil }
        return memoryHeld(by: device, inDirectory: directory)
    }

    /// `memoryHeld(by:in:)` for the device's file in `directory`.
    func memoryHeld(by device: DaxPoolCore.DeviceID, inDirectory directory: FilePath) -> ByteCount? {
        let files = FileBackedDevices(directory: directory, logger: logger).files(of: device)
        for path in [files.enabled, files.disabled] {
            if let status = try? Syscall.linkStatusIfPresent(path), status.isRegularFile {
                return ByteCount(UInt64(max(status.size, status.allocatedBytes, 0)))
            }
        }
        return nil
    }

    /// Renames `.daxR.N.disabled` to `daxR.N` (enable) or back (disable). Doing it twice is harmless.
    public func setDeviceEnabled(_ device: DaxPoolCore.DeviceID, enabled: Bool, in region: RegionConfig)
        throws(BackendError)
    {
        let directory = try deviceDirectory(region, operation: enabled ? "enable-device" : "disable-device")
        try FileBackedDevices(directory: directory, logger: logger).setEnabled(device, enabled: enabled)
    }

    /// Gives the device file to `uid`, mode 0600.
    public func setDeviceOwner(_ device: DaxPoolCore.DeviceID, uid: UInt32, in region: RegionConfig)
        throws(BackendError)
    {
        let directory = try deviceDirectory(region, operation: "set-device-owner")
        try FileBackedDevices(directory: directory, logger: logger).setOwner(of: device, uid: uid)
    }

    /// Truncates the device file to zero: whoever maps it faults with `SIGBUS` on the next access, and its pages go
    /// back to the filesystem (the kernel zeroes them before it hands them out again).
    public func revokeDevice(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) throws(BackendError) {
        let directory = try deviceDirectory(region, operation: "revoke-device")
        try FileBackedDevices(directory: directory, logger: logger).revoke(device)
    }

    /// Destroyed devices' files are scrubbed into the pool, unless the backend was told not to keep them.
    public func scrubsRetiredMemory(in region: RegionConfig) -> Bool { keepsScrubbedFiles }

    /// Devices from `minimumKeptSize` up are scrubbed into the pool; smaller ones go back to the kernel at once.
    public func scrubsRetiredMemory(of size: ByteCount, in region: RegionConfig) -> Bool {
        keepsScrubbedFiles && size.rawValue >= UInt64(Self.minimumKeptSize)
    }

    /// Renames the device's file (under either name) to `<region>/.pool/dirty.<token>`, without zeroing it; a file
    /// that is already gone is fine. `scrubRetired(token:)` zeroes it later.
    public func retireDevice(_ device: DaxPoolCore.DeviceID, token: String, in region: RegionConfig)
        throws(BackendError)
    {
        let operation = "destroy-device"
        let directory = try deviceDirectory(region, operation: operation)
        watcher?.unwatch(device)
        let files = FileBackedDevices(directory: directory, logger: logger).files(of: device)
        let pool = pool(directory)
        for path in [files.enabled, files.disabled] where try pool.hide(path, token: token, operation: operation) {
            return
        }
    }

    /// Zeroes `<region>/.pool/dirty.<token>` with the scrubber's threads and keeps it as a ready file (or unlinks
    /// it when another way into it survives, or it cannot be zeroed: see `ScrubPool.exclusivityProblem`); a file its
    /// last owner grew past `size` is cut back to it first. A file that is gone already is fine.
    public func scrubRetired(
        token: String,
        size: ByteCount,
        in region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let operation = "scrub"
        let pool = pool(try deviceDirectory(region, operation: operation))
        let outcome = try withoutActuallyEscaping(progress) { report throws(BackendError) in
            try pool.scrubHidden(
                token: token, expectedSize: Int64(clamping: size.rawValue), operation: operation
            ) { done, total in
                report(ByteCount(UInt64(done)), ByteCount(UInt64(total)))
            }
        }
        if case .pooled(let size) = outcome {
            logger.debug("scrubbed and pooled", metadata: ["token": "\(token)", "bytes": "\(size)"])
        }
    }

    /// Scrubs the device's file into the pool (or unlinks it: see `ScrubPool`) at once; a file that is already
    /// gone is fine.
    public func destroyDevice(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) throws(BackendError) {
        let operation = "destroy-device"
        let directory = try deviceDirectory(region, operation: operation)
        watcher?.unwatch(device)
        let files = FileBackedDevices(directory: directory, logger: logger).files(of: device)
        for path in [files.enabled, files.disabled] {
            try retire(path, in: directory, operation: operation)
        }
    }

    /// Retires the file at `path`: scrubbed into the pool, or unlinked.
    func retire(_ path: FilePath, in directory: FilePath, operation: String) throws(BackendError) {
        if keepsScrubbedFiles {
            let outcome = try pool(directory).retire(path, operation: operation)
            if case .pooled(let size) = outcome {
                logger.debug("scrubbed and pooled", metadata: ["path": "\(path)", "bytes": "\(size)"])
            }
            return
        }
        do throws(Errno) {
            try Syscall.unlink(path)
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw BackendError(operation, path, error, "cannot remove the memory file \(path): \(error)")
        }
    }

    /// Makes a ready file for every size in `region.pool` that the pool lacks (`ScrubPool.fill`), 32 MiB (or one
    /// page) at a time, so that a commit waits at most for one piece.
    public func fillPool(
        in region: RegionConfig,
        shouldContinue: () -> Bool,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        guard keepsScrubbedFiles, !region.pool.isEmpty else { return }
        let operation = "fill-pool"
        let directory = try deviceDirectory(region, operation: operation)
        let policy = commitPolicy(region, directory: directory)
        let chunk = max(Self.fillChunk / policy.pageSize, 1) * policy.pageSize
        let outcome = try pool(directory).fill(
            targets: region.pool.map { Int64(clamping: $0.rawValue) }, regionSize: policy.regionSize, chunk: chunk,
            node: policy.node, operation: operation, shouldContinue: shouldContinue
        ) { done, total in
            progress(ByteCount(UInt64(done)), ByteCount(UInt64(total)))
        }
        if !outcome.skipped.isEmpty {
            logger.notice(
                "the region has no room for some pool files now; they are made when memory is free",
                metadata: ["region": "\(region.id)", "sizes": "\(outcome.skipped)"])
        }
    }

    /// The bytes a fill allocates per step, at least one page.
    static var fillChunk: Int64 { 32 << 20 }

    /// The sizes of the ready files in the region's pool, smallest first.
    public func readyFiles(in region: RegionConfig) -> [ByteCount] {
        guard keepsScrubbedFiles, let directory = try? deviceDirectory(region, operation: "list") else { return [] }
        let entries = (try? pool(directory).entries(operation: "list")) ?? []
        return entries.filter { $0.allocatedBytes >= $0.size }.map { ByteCount(UInt64($0.size)) }
    }

    /// After a start, once the region's directory is there (`FileBackedDevices.reconcile` says what happens to each
    /// file). In `.normal` mode the pool's `dirty.*` and `filling.*` files are unlinked first: a `filling.*` file
    /// never held a tenant's bytes, and a `dirty.*` file holds only memory of a device whose destroy was committed
    /// before its file was renamed there (a pending scrub's own file is then gone too, which its scrub accepts). A
    /// device file that no device owns is retired under a pending scrub of its device (as `retireDevice` does), or
    /// kept in `lost+found`. In `.keep` mode nothing is changed.
    func reconcileFiles(
        _ region: RegionConfig,
        in directory: FilePath,
        devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode
    ) throws(BackendError) -> ReconcileReport {
        let operation = "reconcile"
        let pool = pool(directory)
        if mode == .normal { try pool.removeDirty(operation: operation) }
        return try FileBackedDevices(directory: directory, logger: logger).reconcile(
            devices,
            pendingScrubs: pendingScrubs,
            mode: mode,
            commit: { (record: DeviceRecord, path: FilePath, size: ByteCount, creating: Bool) throws(BackendError) in
                try commitFile(
                    record.id, at: path, size: size, creating: creating, region: region, operation: operation)
            },
            retire: { (path: FilePath, token: String) throws(BackendError) -> Bool in
                try pool.hide(path, token: token, operation: operation)
            },
            watch: { (record: DeviceRecord, path: FilePath, size: ByteCount) in
                watcher?.watch(record.id, path: path, size: size)
            }
        )
    }

    /// The regular files in the region's `lost+found` (`LostAndFound`), by name; none when the region's directory
    /// cannot be reached.
    public func lostFiles(in region: RegionConfig) -> [LostFile] {
        guard let directory = try? deviceDirectory(region, operation: "list") else { return [] }
        return (try? LostAndFound(regionDirectory: directory).files(operation: "list")) ?? []
    }
}
