// Linux only.
import DaxPoolCore
import Glibc
import Logging
import SystemPackage

/// Device memory in files on tmpfs: each region is a directory, each device `daxR.N` a file in it whose pages
/// are committed with `fallocate(2)` before the device is handed out. Needs no root.
///
/// A disabled device's file is renamed to `.daxR.N.disabled`, so its path disappears as `/dev/daxR.N` does when
/// the kernel unbinds a device, and comes back with the same memory when it is enabled.
public struct ShmBackend: MemoryBackend {
    public var kind: BackendKind { .shm }

    let logger: Logger
    /// The mode of the directories it creates: 0700, or 0711 when devices belong to other users, who must pass
    /// through the directories to open their device files (which stay 0600; the directories cannot be listed).
    let directoryMode: mode_t
    let watcher: DeviceMemoryWatcher?

    /// - Parameters:
    ///   - logger: receives what `reconcile` repairs.
    ///   - directoryMode: 0o700 (the default) or 0o711 (other users own devices).
    ///   - watcher: keeps the daemon's own mapping of every device, so that the kernel reports memory errors in
    ///     device memory to the daemon (`nil`: none).
    public init(
        logger: Logger = Logger(label: "daxpool.shm"), directoryMode: UInt32 = 0o700,
        watcher: DeviceMemoryWatcher? = nil
    ) {
        self.logger = logger
        self.directoryMode = mode_t(directoryMode)
        self.watcher = watcher
    }

    /// The default directory of region `regionID` for the current user: `/dev/shm/daxpool-<uid>/region<id>`.
    public static func defaultRegionPath(regionID: Int) -> String {
        "/dev/shm/daxpool-\(getuid())/region\(regionID)"
    }

    /// Creates the region directory (and its parents, mode 0700), checks it is on tmpfs and that the tmpfs has
    /// `request.size` bytes free. Directories it created are removed again when a check fails.
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

    /// `<region path>/daxR.N`.
    public func devicePath(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) -> String? {
        FilePath(region.path).appending(ShmDeviceFiles.enabledName(device)).string
    }

    /// Creates the device file (mode 0600) or resizes the existing one, enabled or disabled, to exactly `size`
    /// bytes, all committed. A grow commits the new pages with `fallocate(2)`; a shrink frees the tail with
    /// `ftruncate(2)`. On failure a new file is removed and a grown file gets its old size back.
    /// `extents` are not needed: a shm device's memory is its file.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        extents: [Extent],
        in region: RegionConfig
    ) throws(BackendError) {
        try provisionDevice(device, size: size, extents: extents, align: region.pageSize, in: region) { _, _ in }
    }

    /// `provisionDevice`, telling `progress` (bytes committed, total) after each `HugetlbBackend.prefaultChunk`
    /// that `fallocate(2)` committed.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        extents: [Extent],
        align: Alignment,
        in region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let operation = "provision-device"
        let directory = try regionDirectory(region, operation: operation)
        let files = ShmDeviceFiles(device, in: directory)
        let path: FilePath
        if try isPresent(files.enabled, operation: operation) {
            path = files.enabled
            try commit(device, at: path, size: size, creating: false, operation: operation, progress: progress)
        } else if try isPresent(files.disabled, operation: operation) {
            path = files.disabled
            try commit(device, at: path, size: size, creating: false, operation: operation, progress: progress)
        } else {
            path = files.enabled
            try commit(device, at: path, size: size, creating: true, operation: operation, progress: progress)
        }
        watcher?.watch(device, path: path, size: size)
    }

    /// Renames `.daxR.N.disabled` to `daxR.N` (enable) or back (disable). Doing it twice is harmless.
    public func setDeviceEnabled(_ device: DaxPoolCore.DeviceID, enabled: Bool, in region: RegionConfig)
        throws(BackendError)
    {
        let operation = enabled ? "enable-device" : "disable-device"
        let files = ShmDeviceFiles(device, in: try regionDirectory(region, operation: operation))
        let (source, target) = enabled ? (files.disabled, files.enabled) : (files.enabled, files.disabled)
        if try isPresent(target, operation: operation) { return }
        guard try isPresent(source, operation: operation) else {
            throw BackendError(
                operation, files.enabled, .noSuchFileOrDirectory,
                "the memory file of \(device) is missing (neither \(files.enabled) nor \(files.disabled) exists): "
                    + "restart the daemon so that it recreates the device's memory, or destroy the device"
            )
        }
        do throws(Errno) {
            try Syscall.rename(source, to: target)
        } catch {
            throw BackendError(operation, source, error, "cannot rename \(source) to \(target): \(error)")
        }
    }

    /// Gives the device file to `uid`, mode 0600.
    public func setDeviceOwner(_ device: DaxPoolCore.DeviceID, uid: UInt32, in region: RegionConfig)
        throws(BackendError)
    {
        let directory = try regionDirectory(region, operation: "set-device-owner")
        try FileBackedDevices(directory: directory, logger: logger).setOwner(of: device, uid: uid)
    }

    /// Truncates the device file to zero: whoever maps it faults with `SIGBUS` on the next access.
    public func revokeDevice(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) throws(BackendError) {
        let directory = try regionDirectory(region, operation: "revoke-device")
        try FileBackedDevices(directory: directory, logger: logger).revoke(device)
    }

    /// Removes the device file under either name; a file that is already gone is fine.
    public func destroyDevice(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) throws(BackendError) {
        let operation = "destroy-device"
        let files = ShmDeviceFiles(device, in: try regionDirectory(region, operation: operation))
        watcher?.unwatch(device)
        for path in [files.enabled, files.disabled] {
            do throws(Errno) {
                try Syscall.unlink(path)
            } catch .noSuchFileOrDirectory {
                continue
            } catch {
                throw BackendError(operation, path, error, "cannot remove the memory file \(path): \(error)")
            }
        }
    }
}

extension ShmBackend {
    /// The region's directory, which must be an absolute path.
    func regionDirectory(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath {
        let path = FilePath(region.path)
        guard path.isAbsolute else {
            throw BackendError(
                operation, path, .invalidArgument,
                "region path '\(region.path)' is not absolute: give a directory on tmpfs such as "
                    + Self.defaultRegionPath(regionID: region.id)
            )
        }
        return path.lexicallyNormalized()
    }

    /// Creates `directory` (mode `directoryMode`, whatever the umask, with parents) and checks it is on tmpfs.
    /// - Returns: the directories created, for undo.
    func prepareDirectory(_ directory: FilePath, operation: String) throws(BackendError) -> [FilePath] {
        var created: [FilePath] = []
        do throws(Errno) {
            created = try Directory.create(directory, mode: directoryMode)
            for path in created { try Syscall.changeMode(path, directoryMode) }
        } catch {
            Directory.removeCreated(created)
            throw BackendError(
                operation, directory, error,
                "cannot create the region directory \(directory): \(error). Choose a directory on tmpfs that "
                    + "the daemon's user may create, such as one under /dev/shm"
            )
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

    /// Whether a regular file is at `path`; anything else there is an error.
    func isPresent(_ path: FilePath, operation: String) throws(BackendError) -> Bool {
        let status: FileStatus?
        do throws(Errno) {
            status = try Syscall.linkStatusIfPresent(path)
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
        }
        guard let status else { return false }
        guard status.isRegularFile else {
            throw BackendError(
                operation, path, .invalidArgument,
                "\(path) is not a regular file, so it cannot be device memory: move it away"
            )
        }
        return true
    }

    /// Opens (or creates) the device file at `path` and makes it exactly `size` bytes, every page committed.
    func commit(
        _ device: DaxPoolCore.DeviceID,
        at path: FilePath,
        size: ByteCount,
        creating: Bool,
        operation: String,
        progress: (ByteCount, ByteCount) -> Void = { _, _ in }
    ) throws(BackendError) {
        guard let length = Int64(exactly: size.rawValue) else {
            throw BackendError(operation, path, .fileTooLarge, "\(size) bytes is too large for a file")
        }
        let options: FileDescriptor.OpenOptions = creating ? [.create, .exclusiveCreate, .noFollow] : [.noFollow]
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(path, .readWrite, options: options, permissions: .ownerReadWrite)
        } catch {
            throw BackendError(operation, path, error, "cannot open the memory file of \(device) at \(path): \(error)")
        }
        var oldLength: Int64 = 0
        do throws(Errno) {
            let before = try file.status()
            oldLength = before.size
            if length < before.size { try file.resize(to: length) }
            let current = try length < before.size ? file.status() : before
            if length > 0 && current.allocatedBytes < length {
                // Commit only the new tail when everything before it is committed already.
                let start = current.size < length && current.allocatedBytes >= current.size ? current.size : 0
                // In pieces, so that a long commit reports progress.
                var offset = start
                progress(ByteCount(UInt64(offset)), size)
                while offset < length {
                    let piece = min(HugetlbBackend.prefaultChunk, length - offset)
                    try file.allocate(offset: offset, length: piece)
                    offset += piece
                    progress(ByteCount(UInt64(offset)), size)
                }
            }
            try file.setPermissions(.ownerReadWrite)
            progress(size, size)
        } catch {
            if creating {
                try? Syscall.unlink(path)
            } else if length > oldLength {
                try? file.resize(to: oldLength)
            }
            throw commitError(device, at: path, size: size, error, operation: operation)
        }
    }

    /// The error for a failed commit, saying how much was asked and what is free.
    func commitError(
        _ device: DaxPoolCore.DeviceID,
        at path: FilePath,
        size: ByteCount,
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
