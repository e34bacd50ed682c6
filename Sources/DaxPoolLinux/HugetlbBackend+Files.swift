// Linux only.
import DaxPoolCore
import Glibc
import Logging
import SystemPackage

extension HugetlbBackend {
    /// Checks what every operation needs: root, a hugetlb region, a 2M or 1G page size, a size that is a whole
    /// number of pages, and an absolute path.
    /// - Returns: the normalized mount point.
    func checkRegion(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath {
        let path = FilePath(region.path)
        try Self.checkPrivilege(effectiveUserID: geteuid(), operation: operation, path: path)
        guard region.backend == .hugetlb else {
            throw BackendError(
                operation, path, .invalidArgument,
                "the hugetlb backend cannot handle a region of backend \(region.backend): ask for backend hugetlb"
            )
        }
        guard region.pageSize == .page2M || region.pageSize == .page1G else {
            throw BackendError(
                operation, path, .invalidArgument,
                "a hugetlb region needs --page-size 2M or 1G, not \(region.pageSize): 4K pages are what the shm "
                    + "backend gives"
            )
        }
        guard region.size.rawValue > 0, region.size.isAligned(to: region.pageSize) else {
            throw BackendError(
                operation, path, .invalidArgument,
                "a hugetlb region's size must be a whole number of \(region.pageSize) pages, not \(region.size) bytes: "
                    + "round it to a multiple of \(region.pageSize)"
            )
        }
        guard path.isAbsolute else {
            throw BackendError(
                operation, path, .invalidArgument,
                "region path '\(region.path)' is not absolute: give a mount point such as "
                    + Self.defaultRegionPath(regionID: region.id)
            )
        }
        return path.lexicallyNormalized()
    }

    /// Root is needed to reserve huge pages and to mount hugetlbfs: every operation checks the effective user id
    /// (`geteuid(2)`) first, so a non-root daemon gets this error instead of a half-made region.
    public static func checkPrivilege(effectiveUserID: uid_t, operation: String, path: FilePath) throws(BackendError) {
        guard effectiveUserID == 0 else {
            throw BackendError(
                operation, path, .notPermitted,
                "the hugetlb backend needs root: it reserves huge pages in /sys/devices/system/node and mounts "
                    + "hugetlbfs. Run the daemon as root, or use --backend shm"
            )
        }
    }

    /// What is mounted at the region's mount point.
    func mountState(_ mount: HugetlbMount, operation: String) throws(BackendError) -> HugetlbMount.State {
        do throws(Errno) {
            return try mount.state()
        } catch {
            throw BackendError(operation, "/proc/self/mountinfo", error, "cannot read /proc/self/mountinfo: \(error)")
        }
    }

    /// Mounts the region's hugetlbfs and checks that it is one.
    func mountRegion(_ mount: HugetlbMount, operation: String) throws(BackendError) {
        do throws(Errno) {
            try mount.mount()
        } catch .noMemory {
            throw BackendError(
                operation, mount.mountPoint, .noMemory,
                "cannot mount hugetlbfs at \(mount.mountPoint) holding \(mount.size.spelledOut) of \(mount.pageSize) "
                    + "pages: the pool has fewer free pages than that (another user took them meanwhile). Try again "
                    + "or ask for a smaller region"
            )
        } catch {
            throw BackendError(
                operation, mount.mountPoint, error,
                "cannot mount hugetlbfs at \(mount.mountPoint) (\(mount.options)): \(error)"
            )
        }
        let type: FileSystemType
        do throws(Errno) {
            type = try FileSystemType(of: mount.mountPoint)
        } catch {
            try? mount.unmount()
            throw BackendError(operation, mount.mountPoint, error, "cannot check the new mount: \(error)")
        }
        guard type == .hugetlbfs else {
            try? mount.unmount()
            throw BackendError(
                operation, mount.mountPoint, .invalidArgument,
                "\(mount.mountPoint) is on \(type) after mounting hugetlbfs: check the host's mount setup"
            )
        }
    }

    /// The mount point of a region whose hugetlbfs must be mounted (device operations).
    func checkMounted(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath {
        let mountPoint = try checkRegion(region, operation: operation)
        let type: FileSystemType
        do throws(Errno) {
            type = try FileSystemType(of: mountPoint)
        } catch {
            throw BackendError(
                operation, mountPoint, error,
                "cannot find the region's mount \(mountPoint) (\(error)): restart the daemon so that it mounts it again"
            )
        }
        guard type == .hugetlbfs else {
            throw BackendError(
                operation, mountPoint, .invalidArgument,
                "\(mountPoint) is on \(type), not the region's hugetlbfs mount: restart the daemon so that it "
                    + "mounts it again"
            )
        }
        return mountPoint
    }

    /// The region's pool of scrubbed files.
    func pool(_ mountPoint: FilePath) -> ScrubPool {
        ScrubPool(regionDirectory: mountPoint, scrubber: scrubber, threads: scrubThreads, logger: logger)
    }

    /// Retires the file at `path`: scrubbed into the pool, or unlinked.
    func retire(_ path: FilePath, in mountPoint: FilePath, operation: String) throws(BackendError) {
        if keepsScrubbedFiles {
            let outcome = try pool(mountPoint).retire(path, operation: operation)
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

    /// Gives back the pages the region's record says it added in this boot, then removes the record.
    func releasePages(_ config: RegionConfig, mountPoint: FilePath, operation: String) throws(BackendError) {
        let recordPath = HugetlbRegionRecord.path(mountPoint: mountPoint, region: config.id)
        guard let record = try HugetlbRegionRecord.load(recordPath) else {
            logger.warning("no reservation record: no huge pages given back", metadata: ["path": "\(recordPath)"])
            return
        }
        if record.bootID == HugetlbRegionRecord.currentBootID() {
            let after = try pages.release(record.pagesAdded, node: record.node, pageSize: record.pageSize)
            logger.info(
                "gave back huge pages",
                metadata: ["pages": "\(record.pagesAdded)", "node": "\(record.node)", "node_pages_now": "\(after)"]
            )
        }
        do throws(Errno) {
            try Syscall.unlink(recordPath)
        } catch .noSuchFileOrDirectory {
        } catch {
            throw BackendError(operation, recordPath, error, "cannot remove the region record \(recordPath): \(error)")
        }
    }

    /// Opens (or creates) the device file at `path` and makes it exactly `size` bytes, every page allocated on
    /// the region's node: from the pool when creating and a pooled file has exactly `size`, else by `fallocate`
    /// after evicting pooled files as far as needed.
    func commit(
        _ device: DaxPoolCore.DeviceID,
        at path: FilePath,
        size: ByteCount,
        creating: Bool,
        region: RegionConfig,
        operation: String,
        progress: (ByteCount, ByteCount) -> Void = { _, _ in }
    ) throws(BackendError) {
        guard let length = Int64(exactly: size.rawValue), size.isAligned(to: region.pageSize) else {
            throw BackendError(
                operation, path, .invalidArgument,
                "\(device) must be a whole number of \(region.pageSize) pages, not \(size) bytes"
            )
        }
        let mountPoint = path.removingLastComponent()
        let pool = pool(mountPoint)
        if creating, keepsScrubbedFiles, try pool.take(size: size, to: path, operation: operation) {
            do throws(Errno) {
                try OwnedDescriptor.open(path, .readWrite, options: .noFollow).setPermissions(.ownerReadWrite)
            } catch {
                try? Syscall.unlink(path)
                throw BackendError(operation, path, error, "cannot set the mode of \(path) to 0600: \(error)")
            }
            logger.debug("took a scrubbed file from the pool", metadata: ["device": "\(device)", "bytes": "\(length)"])
            progress(size, size)
            return
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
            let needed = length - min(before.allocatedBytes, length)
            if needed > 0 {
                try makeRoom(needed, in: mountPoint, pool: pool, operation: operation)
                let node = region.targetNode ?? Self.defaultNode
                let binding = try NUMABinding(node: node)
                let start = before.allocatedBytes >= before.size ? min(before.size, length) : 0
                // In pieces, so that a long prefault reports progress; each piece is whole pages.
                let chunk =
                    max(Self.prefaultChunk / Int64(region.pageSize.rawValue), 1) * Int64(region.pageSize.rawValue)
                var offset = start
                progress(ByteCount(UInt64(offset)), size)
                while offset < length {
                    let piece = min(chunk, length - offset)
                    try file.allocate(offset: offset, length: piece)
                    offset += piece
                    progress(ByteCount(UInt64(offset)), size)
                }
                try binding.restore()
            }
            try file.setPermissions(.ownerReadWrite)
            if needed <= 0 { progress(size, size) }
        } catch {
            if creating {
                try? Syscall.unlink(path)
            } else if length > oldLength {
                try? file.resize(to: oldLength)
            }
            throw commitError(device, at: path, size: size, region: region, error, operation: operation)
        }
    }

    /// Evicts pooled files until the mount has `needed` bytes free (its `size=` caps it at the region's size).
    func makeRoom(_ needed: Int64, in mountPoint: FilePath, pool: ScrubPool, operation: String) throws(Errno) {
        let free = Int64(clamping: try FileSystemSpace(of: mountPoint).available.rawValue)
        guard free < needed else { return }
        do throws(BackendError) {
            try pool.evict(atLeast: needed - free, operation: operation)
        } catch {
            throw Errno(rawValue: error.errno)
        }
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
        let mountPoint = path.removingLastComponent()
        switch error {
        case .noSpace, .noMemory:
            let free = (try? FileSystemSpace(of: mountPoint)).map { "\($0.available.spelledOut) free" } ?? "no room"
            return BackendError(
                operation, path, error,
                "cannot allocate \(size.spelledOut) of \(region.pageSize) pages for \(device) on NUMA node "
                    + "\(region.targetNode ?? Self.defaultNode): the region's mount \(mountPoint) has \(free). A "
                    + "destroyed device may still be mapped by a process (its pages stay in use until it unmaps "
                    + "them), or another user of the node's huge page pool took pages: stop that process, or "
                    + "destroy devices"
            )
        default:
            return BackendError(
                operation, path, error,
                "cannot allocate \(size.spelledOut) for \(device) at \(path): \(error)"
            )
        }
    }
}
