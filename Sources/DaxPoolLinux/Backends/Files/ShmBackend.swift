// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import Logging
import SystemPackage

/// Device memory in files on tmpfs: each region is a directory, each device `daxR.N` a file in it whose pages
/// are committed with `fallocate(2)` before the device is handed out. Needs no root.
///
/// A disabled device's file is renamed to `.daxR.N.disabled`, so its path disappears as `/dev/daxR.N` does when
/// the kernel unbinds a device, and comes back with the same memory when it is enabled.
///
/// As in `HugetlbBackend`, a destroyed device's file is scrubbed into the region's pool (`<region>/.pool`), and
/// the pool can be filled ahead of demand with the sizes the region names, so that a new device of such a size
/// takes a file whose pages are already allocated and zero (`PooledFileBackend`).
public struct ShmBackend: PooledFileBackend {
    /// `shm`.
    public var kind: BackendKind { .shm }

    let logger: Logger
    let scrubber: Scrubber
    let scrubThreads: Int
    let keepsScrubbedFiles: Bool
    /// The mode of the directories it creates: 0700, or 0711 when devices belong to other users, who must pass
    /// through the directories to open their device files (which stay 0600; the directories cannot be listed).
    let directoryMode: mode_t
    let watcher: DeviceMemoryWatcher?
    /// Whether each region is its own tmpfs mount (`TmpfsMount`), as `daxpool serve` makes them when it runs as
    /// root; otherwise regions are directories on the tmpfs that holds them.
    let mountsRegions: Bool
    /// The daemon's claims on its regions' directories (`nil`: none are taken, as in tests of the backend alone).
    let ownership: RegionOwnership?

    /// - Parameters:
    ///   - logger: receives what `reconcile` repairs.
    ///   - directoryMode: 0o700 (the default) or 0o711 (other users own devices).
    ///   - watcher: keeps the daemon's own mapping of every device, so that the kernel reports memory errors in
    ///     device memory to the daemon (`nil`: none).
    ///   - scrubber: zeroes destroyed devices' memory.
    ///   - scrubThreads: threads a scrub may use (default: all online CPUs, at most 4).
    ///   - keepsScrubbedFiles: keep destroyed devices' scrubbed files for reuse and fill the pool (`false`: unlink
    ///     them, and let the kernel zero pages when they are allocated again).
    ///   - mountsRegions: mount a tmpfs of the region's size on each region's directory (needs root).
    ///   - ownership: claim each region's directory for this daemon and state directory (`RegionDirectoryClaim`).
    public init(
        logger: Logger = Logger(label: "daxpool.shm"), directoryMode: UInt32 = 0o700,
        watcher: DeviceMemoryWatcher? = nil,
        scrubber: Scrubber = Scrubber(),
        scrubThreads: Int = min(4, Scrubber.onlineProcessorCount),
        keepsScrubbedFiles: Bool = true,
        mountsRegions: Bool = false,
        ownership: RegionOwnership? = nil
    ) {
        self.logger = logger
        self.directoryMode = mode_t(directoryMode)
        self.watcher = watcher
        self.scrubber = scrubber
        self.scrubThreads = max(1, scrubThreads)
        self.keepsScrubbedFiles = keepsScrubbedFiles
        self.mountsRegions = mountsRegions
        self.ownership = ownership
    }

    /// The default directory of region `regionID` for the current user: `/dev/shm/daxpool-<uid>/region<id>`.
    public static func defaultRegionPath(regionID: Int) -> String {
        "/dev/shm/daxpool-\(userID)/region\(regionID)"
    }

    /// The process's real uid, read once: every operation on a region finds its directory through
    /// `defaultRegionPath`, and the uid does not change while the daemon runs.
    private static let userID = getuid()

    /// Creates the region directory (and its parents, mode 0700), checks it is on tmpfs and that the tmpfs has
    /// `request.size` bytes free, and, with `mountsRegions`, mounts the region's own tmpfs on it (`TmpfsMount`).
    /// Directories it created are removed again when a check fails.
    /// - Returns: `request` with `targetNode` cleared: tmpfs does not place pages on a chosen node.
    public func createRegion(_ request: RegionConfig) throws(BackendError) -> RegionConfig {
        let operation = "create-region"
        guard request.backend == .shm else {
            throw BackendError(
                operation, FilePath(request.path), .invalidArgument,
                "the shm backend cannot create a region for backend \(request.backend): ask for backend shm"
            )
        }
        let directory = try regionDirectory(request, operation: operation)
        let created = try prepareDirectory(directory, operation: operation)
        let space: FileSystemSpace
        do throws(Errno) {
            space = try FileSystemSpace(of: directory)
        } catch {
            Directory.removeCreated(created)
            throw BackendError(operation, directory, error, "cannot read the free space of \(directory): \(error)")
        }
        guard space.available >= request.size else {
            Directory.removeCreated(created)
            throw BackendError(
                operation, directory, .noSpace,
                "the tmpfs holding \(directory) has \(space.available.spelledOut) free of "
                    + "\(space.total.spelledOut), but the region needs \(request.size.spelledOut): "
                    + "ask for a smaller region, free memory in that tmpfs, or enlarge it "
                    + "(mount -o remount,size=...)"
            )
        }
        var mounted = false
        do throws(BackendError) {
            if mountsRegions {
                mounted = try mountRegion(request, at: directory, operation: operation, adopting: false)
            }
            try ownership?.claim(directory, for: request, operation: operation)
        } catch {
            // Only what this call mounted: a refused claim on another daemon's mount leaves that mount alone.
            if mounted { try? unmountRegion(request, at: directory, operation: operation) }
            Directory.removeCreated(created)
            throw error
        }
        var config = request
        config.targetNode = nil
        return config
    }

    /// Removes the region directory. Refuses while device files are left in it, or when it holds other files.
    public func destroyRegion(_ config: RegionConfig) throws(BackendError) {
        let operation = "destroy-region"
        let directory = try regionDirectory(config, operation: operation)
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directory)
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            throw BackendError(operation, directory, error, "cannot list the region directory \(directory): \(error)")
        }
        let deviceFiles = names.filter { ShmDeviceFiles.device(fromFileName: $0) != nil }.sorted()
        guard deviceFiles.isEmpty else {
            throw BackendError(
                operation, directory, .directoryNotEmpty,
                "region directory \(directory) still holds device files \(deviceFiles.joined(separator: ", ")): "
                    + "destroy those devices first"
            )
        }
        let pool = pool(directory)
        try ScrubPool.withRoomLock { () throws(BackendError) in try pool.removeAll(operation: operation) }
        ownership?.releaseDestroyed(directory)
        try unmountRegion(config, at: directory, operation: operation)
        do throws(Errno) {
            try Syscall.removeDirectory(directory)
        } catch .noSuchFileOrDirectory {
            return
        } catch .directoryNotEmpty {
            throw BackendError(
                operation, directory, .directoryNotEmpty,
                "region directory \(directory) holds files daxpool did not create "
                    + "(\(names.sorted().joined(separator: ", "))): move them away, then destroy the region again"
            )
        } catch {
            throw BackendError(operation, directory, error, "cannot remove region directory \(directory): \(error)")
        }
    }
}

extension ShmBackend {
    /// The region's directory.
    func deviceDirectory(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath {
        try regionDirectory(region, operation: operation)
    }

    /// tmpfs does not place pages on a chosen node.
    func memoryNode(of region: RegionConfig) -> Int? { nil }

    /// 2 MiB: the kernel zeroes a few 4K pages as fast as a scrub, so smaller files are not kept.
    static var minimumKeptSize: Int64 { 2 << 20 }

    /// The region's directory, which must be an absolute path.
    func regionDirectory(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath {
        try absoluteRegionPath(
            region, operation: operation,
            example: "a directory on tmpfs such as \(Self.defaultRegionPath(regionID: region.id))")
    }

    /// Creates `directory` (mode `directoryMode`, whatever the umask, with parents) and checks it is on tmpfs.
    /// - Returns: the directories created, for undo.
    func prepareDirectory(_ directory: FilePath, operation: String) throws(BackendError) -> [FilePath] {
        let created: [FilePath]
        do throws(TrustedDirectoryError) {
            created = try TrustedDirectory.ensure(directory, mode: directoryMode, purpose: "shm region directory")
        } catch {
            throw error.backendError(operation, directory)
        }
        let type: FileSystemType
        do throws(Errno) {
            type = try FileSystemType(of: directory)
        } catch {
            Directory.removeCreated(created)
            throw BackendError(operation, directory, error, "cannot find the filesystem of \(directory): \(error)")
        }
        guard type == .tmpfs else {
            Directory.removeCreated(created)
            throw BackendError(
                operation, directory, .invalidArgument,
                "\(directory) is on \(type), not tmpfs: the shm backend keeps device memory in tmpfs files, "
                    + "so choose a region path under /dev/shm or another tmpfs mount"
            )
        }
        return created
    }

    /// The error for a failed commit, saying how much was asked and what is free.
    func commitError(
        _ device: DaxPoolCore.DeviceID,
        at path: FilePath,
        size: ByteCount,
        region: RegionConfig,
        _ error: Errno,
        operation: String
    ) -> BackendError {
        let directory = path.removingLastComponent()
        switch error {
        case .noSpace:
            let free = (try? FileSystemSpace(of: directory)).map { "\($0.available.spelledOut) free" } ?? "no room"
            return BackendError(
                operation, path, error,
                "cannot commit \(size.spelledOut) for \(device): the tmpfs holding \(directory) is full (\(free)). "
                    + "Destroy devices, ask for less, or enlarge the tmpfs (mount -o remount,size=...)"
            )
        case .noMemory:
            return BackendError(
                operation, path, error,
                "cannot commit \(size.spelledOut) for \(device): the host is out of memory. "
                    + "Free memory or ask for less"
            )
        default:
            return BackendError(
                operation, path, error,
                "cannot commit \(size.spelledOut) for \(device) at \(path): \(error)"
            )
        }
    }
}
