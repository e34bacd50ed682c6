// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

extension ShmBackend {
    /// Grows or shrinks a region to `newSize`. When the region is its own tmpfs mount (the daemon runs as root),
    /// the mount's `size=` is changed in place (`mount -o remount,size=`): its files, device files included, stay
    /// as they are. A shrink below what the region's files hold (device files, files being scrubbed, `lost+found`;
    /// ready pool files are only free memory and are removed as needed) is refused before anything changes.
    /// Without a mount of its own (a region on a shared tmpfs), only the state's size changes: the allocator keeps
    /// the region's devices within it.
    /// - Returns: `config` with `size` set to `newSize`.
    /// - Throws: `BackendError` (`EBUSY`) naming what the files hold for a shrink below it; the error of the
    ///   remount otherwise.
    public func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws(BackendError) -> RegionConfig {
        let operation = "resize-region"
        let directory = try regionDirectory(config, operation: operation)
        var resized = config
        resized.size = newSize
        guard newSize != config.size, try ownMount(config, at: directory, operation: operation) != nil else {
            return resized
        }
        try ScrubPool.withRoomLock { () throws(BackendError) in
            let held = try heldBytes(in: directory, operation: operation)
            guard held.kept <= Int64(clamping: newSize.rawValue) else {
                throw BackendError(
                    operation, directory, .resourceBusy,
                    "region \(config.id)'s files hold \(held.kept) bytes (devices \(held.usage.devices), being "
                        + "zeroed or filled \(held.usage.other), lost+found \(held.lost)), more than \(newSize.rawValue): "
                        + "destroy devices or empty lost+found first, or resize to at least \(held.kept) bytes"
                )
            }
            if newSize < config.size {
                // Ready pool files are free memory: remove what the smaller mount cannot hold.
                let oldSize = Int64(clamping: config.size.rawValue)
                try pool(directory).makeRoom(
                    oldSize - Int64(clamping: newSize.rawValue), regionSize: oldSize, operation: operation)
            }
            try remount(resized, at: directory, operation: operation)
        }
        logger.info(
            "resized the region's tmpfs in place",
            metadata: ["path": "\(directory)", "from": "\(config.size)", "to": "\(newSize)"])
        return resized
    }

    /// After a start: brings the region's own tmpfs mount to the state's size when a resize changed it and the
    /// daemon died before the new size was committed (the state is the truth). tmpfs changes its size in place, so
    /// no file is touched: when the files fit in the state's size the mount is resized (a note); when they hold
    /// more, it is left as it is (a doubt).
    func reconcileMountSize(_ region: RegionConfig, at directory: FilePath, operation: String)
        throws(BackendError) -> ReconcileReport
    {
        var report = ReconcileReport()
        guard let mountSize = try ownMount(region, at: directory, operation: operation),
            mountSize != region.size.rawValue
        else { return report }
        let found =
            "region \(region.id)'s tmpfs at \(directory) is mounted at \(mountSize) bytes while its state says "
            + "\(region.size.rawValue) (a resize that was not committed)"
        do throws(BackendError) {
            try ScrubPool.withRoomLock { () throws(BackendError) in
                let held = try heldBytes(in: directory, operation: operation)
                guard held.kept <= Int64(clamping: region.size.rawValue) else {
                    throw BackendError(
                        operation, directory, .resourceBusy,
                        "its files hold \(held.kept) bytes, more than the state's size: left as it is")
                }
                let current = Int64(clamping: mountSize)
                let wanted = Int64(clamping: region.size.rawValue)
                if wanted < current {
                    try pool(directory).makeRoom(current - wanted, regionSize: current, operation: operation)
                }
                try remount(region, at: directory, operation: operation)
            }
        } catch {
            report.doubts.append("\(found); \(error.message)")
            return report
        }
        report.notes.append("\(found): resized it in place to the state's size")
        logger.notice(
            "brought the region's tmpfs back to the state's size",
            metadata: ["path": "\(directory)", "from": "\(mountSize)", "to": "\(region.size)"])
        return report
    }

    /// The `size=` of the region's own tmpfs mount, or `nil` when the region has none (no `mountsRegions`, or a
    /// region kept on a shared tmpfs).
    func ownMount(_ region: RegionConfig, at directory: FilePath, operation: String) throws(BackendError) -> UInt64? {
        guard mountsRegions else { return nil }
        let info: HugetlbMountInfo?
        do throws(Errno) {
            guard try regionMount(region, at: directory).state() == .ours else { return nil }
            info = try HugetlbMountInfo.mounted(at: directory.string)
        } catch {
            throw BackendError(operation, directory, error, "cannot read the mounts (/proc/self/mountinfo): \(error)")
        }
        return info?.sizeOption
    }

    /// What the region's files hold: `kept` is what a smaller mount must still hold (everything but ready pool
    /// files), from the files' allocated blocks, and at least what the filesystem counts as used without them.
    func heldBytes(in directory: FilePath, operation: String) throws(BackendError)
        -> (kept: Int64, usage: RegionFileUsage, lost: Int64)
    {
        let usage = try pool(directory).usage(operation: operation)
        let lostDirectory = directory.appending(LostAndFound.directoryName)
        var lost: Int64 = 0
        for name in try ScrubPool.names(in: lostDirectory, operation: operation) {
            lost += try ScrubPool.allocatedBytes(of: lostDirectory.appending(name), operation: operation)
        }
        let space: FileSystemSpace
        do throws(Errno) {
            space = try FileSystemSpace(of: directory)
        } catch {
            throw BackendError(operation, directory, error, "cannot read the free space of \(directory): \(error)")
        }
        let used = Int64(clamping: space.total.rawValue) - Int64(clamping: space.available.rawValue)
        let kept = max(usage.devices + usage.other + lost, used - usage.clean)
        return (kept, usage, lost)
    }

    /// Sets the region's tmpfs mount's `size=` to `region.size` in place.
    func remount(_ region: RegionConfig, at directory: FilePath, operation: String) throws(BackendError) {
        let options = "size=\(region.size.rawValue)"
        do throws(Errno) {
            try Syscall.remountRestricted(at: directory, type: "tmpfs", options: options)
        } catch {
            throw BackendError(
                operation, directory, error,
                "cannot change the region's tmpfs at \(directory) to \(options): \(error)")
        }
    }
}
