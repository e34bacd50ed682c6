// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension HugetlbBackend {
    /// Grows or shrinks a region's reservation and its hugetlbfs mount to `newSize`, exactly: growing adds
    /// `(newSize - size) / pageSize` pages to the node's pool on top of what is there (checking that the kernel gave
    /// all of them, and giving back what it gave when it did not); shrinking gives back exactly the pages the
    /// region no longer needs, never more than the region added (`HugetlbRegionRecord.pagesAdded`).
    ///
    /// The kernel cannot change a mounted hugetlbfs's `size=` and `min_size=` (hugetlbfs has no `reconfigure`: a
    /// remount accepts the options and ignores them), and unmounting a hugetlbfs frees every file on it. So the
    /// region's mount is made again with the new size, which needs the mount to hold no memory anyone can lose: no
    /// device file, no file in `lost+found`, no destroyed device's memory still being zeroed, and no process with
    /// a file of it open. Ready files of the region's pool are only free memory: they are removed and filled again
    /// later. The order keeps the region's memory held at every step: a grow adds the pages before the mount grows;
    /// a shrink makes the mount smaller before it gives pages back. Whatever fails, the old mount, the node's pool
    /// and the region's record are put back as they were.
    /// - Returns: `config` with `size` set to `newSize`.
    /// - Throws: `BackendError` (`EBUSY`) naming what the mount holds; (`ENOMEM`) when the kernel gives fewer pages
    ///   than asked, saying how many; (`EINVAL`) for a size that is not a whole number of the region's pages.
    public func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws(BackendError) -> RegionConfig {
        let operation = "resize-region"
        let mountPoint = try checkRegion(config, operation: operation)
        var resized = config
        resized.size = newSize
        _ = try checkRegion(resized, operation: operation)
        guard newSize != config.size else { return config }
        let node = config.targetNode ?? Self.defaultNode
        let oldMount = HugetlbMount(
            mountPoint: mountPoint, regionID: config.id, pageSize: config.pageSize, size: config.size)
        let newMount = HugetlbMount(
            mountPoint: mountPoint, regionID: config.id, pageSize: config.pageSize, size: newSize)
        guard try mountState(oldMount, operation: operation) == .ours else {
            throw BackendError(
                operation, mountPoint, .noSuchFileOrDirectory,
                "region \(config.id)'s hugetlbfs is not mounted at \(mountPoint): restart the daemon so that it "
                    + "mounts it again, then resize"
            )
        }
        let recordPath = HugetlbRegionRecord.path(mountPoint: mountPoint, region: config.id)
        guard let before = try HugetlbRegionRecord.load(recordPath),
            before.bootID == HugetlbRegionRecord.currentBootID()
        else {
            throw BackendError(
                operation, recordPath, .resourceBusy,
                "region \(config.id) has no reservation record of this boot (\(recordPath)), so daxpool does not "
                    + "know how many huge pages it added and cannot resize it exactly: destroy and create the region "
                    + "instead"
            )
        }
        try checkEmpty(config, mountPoint: mountPoint, operation: operation)

        let oldPages = Int(config.size.rawValue / config.pageSize.rawValue)
        let newPages = Int(newSize.rawValue / config.pageSize.rawValue)
        let added = max(0, newPages - oldPages)
        let givenBack = min(max(0, oldPages - newPages), before.pagesAdded)
        if added > 0 {
            // Throws ENOMEM, having given back what the kernel gave, when it gives fewer than asked.
            _ = try pages.reserve(added, node: node, pageSize: config.pageSize)
        }
        var after = before
        after.pagesAdded = before.pagesAdded + added - givenBack
        // Until the new size is committed, a start undoes this resize from what the intent says (repairResize).
        let intentPath = HugetlbResizeIntent.path(mountPoint: mountPoint, region: config.id)
        var intent = HugetlbResizeIntent(
            region: config.id, fromSize: config.size.rawValue, toSize: newSize.rawValue,
            pagesAddedBefore: before.pagesAdded, pagesAddedAfter: after.pagesAdded, pagesToGiveBack: givenBack,
            bootID: before.bootID)
        do throws(BackendError) {
            try intent.save(intentPath)
            try after.save(recordPath)
            try swapMount(from: oldMount, to: newMount, config: config, resized: resized, operation: operation)
        } catch {
            try? before.save(recordPath)
            HugetlbResizeIntent.remove(intentPath)
            if added > 0 { _ = try? pages.release(added, node: node, pageSize: config.pageSize) }
            throw error
        }
        if givenBack > 0 {
            do throws(BackendError) {
                try giveBack(givenBack, node: node, pageSize: config.pageSize)
            } catch {
                // The pages are still in the pool: the old mount can hold them again.
                try? swapMount(from: newMount, to: oldMount, config: resized, resized: config, operation: operation)
                try? before.save(recordPath)
                HugetlbResizeIntent.remove(intentPath)
                throw error
            }
            intent.pagesToGiveBack = 0
            try? intent.save(intentPath)
        }
        logger.info(
            "resized the region's huge page reservation and mount",
            metadata: [
                "path": "\(mountPoint)", "size": "\(newSize)", "pages_added": "\(added)",
                "pages_given_back": "\(givenBack)", "node": "\(node)",
            ]
        )
        return resized
    }

    /// Refuses a region whose mount holds anything but the daemon's claim marker and ready pool files: remaking the
    /// mount would free it.
    func checkEmpty(_ config: RegionConfig, mountPoint: FilePath, operation: String) throws(BackendError) {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(mountPoint)
        } catch {
            throw BackendError(operation, mountPoint, error, "cannot list the region mount \(mountPoint): \(error)")
        }
        let held = names.filter { name in
            name != ScrubPool.directoryName && RegionDirectoryClaim.parseMarker(name)?.regionID != config.id
        }
        let limitation =
            "the kernel cannot change a mounted hugetlbfs's size (it has no remount for size= and min_size=), so "
            + "daxpool resizes a hugetlb region by mounting it again, which frees every file on it"
        guard held.isEmpty else {
            throw BackendError(
                operation, mountPoint, .resourceBusy,
                "region \(config.id)'s mount \(mountPoint) holds \(held.sorted().joined(separator: ", ")): "
                    + "\(limitation). Destroy the region's devices (and empty its lost+found) first, or create "
                    + "another region"
            )
        }
        let pooled = try pool(mountPoint).names(operation: operation)
        let scrubbing = pooled.filter { $0.hasPrefix("dirty.") }
        guard scrubbing.isEmpty else {
            throw BackendError(
                operation, mountPoint, .resourceBusy,
                "region \(config.id) is still zeroing \(scrubbing.count) destroyed device(s)' memory: \(limitation). "
                    + "Wait until it is done ('daxpool progress --follow' shows it), then resize"
            )
        }
    }

    /// Replaces the region's mount `old` with `new` (same mount point, another size) under the pool's room lock,
    /// moving the daemon's claim along. When `new` cannot be mounted, `old` is mounted again and claimed, and the
    /// error says why; the pool's ready files are gone either way (they are only free memory).
    func swapMount(
        from old: HugetlbMount, to new: HugetlbMount, config: RegionConfig, resized: RegionConfig, operation: String
    ) throws(BackendError) {
        let mountPoint = old.mountPoint
        let pool = pool(mountPoint)
        try ScrubPool.withRoomLock { () throws(BackendError) in
            try pool.removeAll(operation: operation)
            ownership?.claims.release(directory: mountPoint, removingMarker: true)
            do throws(Errno) {
                try old.unmount()
            } catch {
                try? ownership?.claim(mountPoint, for: config, operation: operation)
                throw BackendError(
                    operation, mountPoint, error == .resourceBusy ? .resourceBusy : error,
                    error == .resourceBusy
                        ? "cannot resize region \(config.id): a process still has a file on \(mountPoint) open or "
                            + "mapped (see 'fuser -vm \(mountPoint)'); stop it, then resize again"
                        : "cannot unmount \(mountPoint) to resize it: \(error)"
                )
            }
            do throws(BackendError) {
                try mountRegion(new, operation: operation)
                try ownership?.claim(mountPoint, for: resized, operation: operation)
            } catch {
                ownership?.claims.release(directory: mountPoint, removingMarker: true)
                try? new.unmount()
                do throws(BackendError) {
                    try mountRegion(old, operation: operation)
                    try ownership?.claim(mountPoint, for: config, operation: operation)
                } catch let again {
                    logger.critical(
                        "the region's old mount could not be made again after a failed resize",
                        metadata: ["path": "\(mountPoint)", "error": "\(again)"])
                    throw BackendError(
                        operation, mountPoint, Errno(rawValue: error.errno),
                        "\(error.message); mounting the region's old size again failed too (\(again.message)): "
                            + "restart the daemon so that it mounts the region again"
                    )
                }
                throw error
            }
        }
    }

    /// Gives back `count` pages of the node's pool that the region no longer holds, checking that the kernel freed
    /// them (pages another user of the pool took meanwhile stay as surplus pages, which the kernel frees when they
    /// are released).
    func giveBack(_ count: Int, node: Int, pageSize: Alignment) throws(BackendError) {
        let before = try pages.count(node: node, pageSize: pageSize)
        let after = try pages.release(count, node: node, pageSize: pageSize)
        if after > max(0, before - count) {
            logger.warning(
                "the kernel kept some of the huge pages the region gave back: another user of the pool holds them",
                metadata: ["asked": "\(count)", "node": "\(node)", "node_pages_now": "\(after)"])
        }
    }
}
