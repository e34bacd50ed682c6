// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// A step of a hugetlb resize after which a test may cut it, as a crash there would (`HugetlbBackend.resizeCut`).
enum HugetlbResizeStep: String, CaseIterable, Sendable {
    /// The intent is written; the node's pool is not changed yet.
    case intentSaved = "intent-saved"
    /// A grow wrote the node's `nr_hugepages`; the region's record does not say so yet.
    case pagesReserved = "pages-reserved"
    /// The region's record has the new page count.
    case recordSaved = "record-saved"
    /// A mount was taken away; the mount that replaces it is not made yet.
    case mountRemoved = "mount-removed"
    /// The region's mounts have the new size.
    case mountsArranged = "mounts-arranged"
    /// A shrink wrote the node's count in the intent; the pages are not given back yet.
    case givingBack = "giving-back"
    /// A shrink wrote the node's `nr_hugepages`; the intent does not say so yet.
    case pagesGivenBack = "pages-given-back"
}

extension HugetlbBackend {
    /// Grows or shrinks a region's reservation and its hugetlbfs mounts to `newSize`, exactly, with its devices in
    /// place: growing adds `(newSize - size) / pageSize` pages to the node's pool on top of what is there (checking
    /// that the kernel gave all of them, and giving back what it gave when it did not); shrinking gives back exactly
    /// the pages the region no longer needs, never more than the region added (`HugetlbRegionRecord.pagesAdded`).
    ///
    /// **Segments.** The kernel cannot change a mounted hugetlbfs's `size=` and `min_size=` (hugetlbfs has no
    /// `reconfigure`: a remount accepts the options and ignores them), and unmounting a hugetlbfs frees every file
    /// on it. So a region's memory is held in one or more hugetlbfs mounts (`HugetlbSegment`): segment 0 at the
    /// region's path, and segment `k` at `<path>/.segment<k>`, each with its own `size=`, together exactly the
    /// region's size. A device is one file on one segment and stays there (its path never changes). Each segment's
    /// `size=` caps what its files hold: a tenant that grows its file takes only its segment's free memory.
    ///
    /// - A region none of whose segments holds a device file, a `lost+found` or memory being zeroed is mounted again
    ///   as one segment of the new size (its ready pool files are only free memory; they are made again later).
    /// - Growing otherwise mounts the new memory as a new segment at the end, or mounts the last segment again at
    ///   its size plus the growth when it holds no files.
    /// - Shrinking otherwise gives back segments from the end: a segment wholly past the new size is unmounted, the
    ///   one the new size falls in is mounted again smaller; each must hold no device file. Below the end of the last
    ///   segment that holds one, the resize is refused (`EBUSY`) naming the devices and the smallest size allowed.
    ///
    /// The order keeps the region's memory held at every step, and the intent (`HugetlbResizeIntent`, with the
    /// node's count before each write to `nr_hugepages`) lets a start after a crash at any step learn exactly how
    /// many pages the region holds and bring it back to the state's size (`repairResize`): a grow writes the intent,
    /// adds the pages, records them, then mounts; a shrink writes the intent, unmounts, records, notes the node's
    /// count, then gives the pages back. Whatever fails, the mounts, the node's pool and the record are put back.
    /// - Returns: `config` with `size` set to `newSize` and `segments` to the sizes of the region's mounts afterwards
    ///   (empty when it is one mount): the daemon keeps them with the region, so that its allocator keeps each device
    ///   inside one mount and a start after a reboot mounts them again as they were.
    /// - Throws: `BackendError` (`EBUSY`) naming the devices that hold what a shrink would give back; (`ENOMEM`) when
    ///   the kernel gives fewer pages than asked, saying how many; (`EINVAL`) for a size that is not a whole number of
    ///   the region's pages.
    public func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws(BackendError) -> RegionConfig {
        let operation = "resize-region"
        let mountPoint = try checkRegion(config, operation: operation)
        var resized = config
        resized.size = newSize
        _ = try checkRegion(resized, operation: operation)
        guard newSize != config.size else { return config }
        let node = config.targetNode ?? Self.defaultNode
        let found = try segments(of: config, mountPoint: mountPoint, operation: operation)
        guard !found.isEmpty else {
            throw BackendError(
                operation, mountPoint, .noSuchFileOrDirectory,
                "region \(config.id)'s hugetlbfs is not mounted at \(mountPoint): restart the daemon so that it "
                    + "mounts it again, then resize"
            )
        }
        let mounted = found.reduce(UInt64(0)) { $0 + $1.size.rawValue }
        guard mounted == config.size.rawValue else {
            throw BackendError(
                operation, mountPoint, .resourceBusy,
                "region \(config.id)'s hugetlbfs mounts hold \(mounted) bytes while its size is \(config.size.rawValue) "
                    + "(a resize was not finished): restart the daemon so that it repairs them, then resize"
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
        // Refused before anything changes.
        let plan = try planSegments(config, found: found, to: newSize, operation: operation)
        let layout = Self.sizes(after: plan, found: found)
        resized.segments = layout.count > 1 ? layout : []

        let oldPages = Int(config.size.rawValue / config.pageSize.rawValue)
        let newPages = Int(newSize.rawValue / config.pageSize.rawValue)
        let added = max(0, newPages - oldPages)
        let givenBack = min(max(0, oldPages - newPages), before.pagesAdded)
        var after = before
        after.pagesAdded = before.pagesAdded + added - givenBack
        // HVO acts when a page is allocated: a grow's pages follow the setting now. Which pages a shrink frees is the
        // kernel's choice, so the unoptimized ones are kept as long as the region has pages for them.
        let optimizedNow = HugetlbVmemmapOptimization.isEnabled(sysctlPath: vmemmapSysctlPath) ?? false
        after.unoptimizedPages = min(before.unoptimized(of: oldPages) + (optimizedNow ? 0 : added), newPages)
        // Until the new size is committed, a start undoes this resize from what the intent says (repairResize).
        let intentPath = HugetlbResizeIntent.path(mountPoint: mountPoint, region: config.id)
        var intent = HugetlbResizeIntent(
            region: config.id, fromSize: config.size.rawValue, toSize: newSize.rawValue,
            pagesAddedBefore: before.pagesAdded, pagesAddedAfter: after.pagesAdded, pagesToGiveBack: givenBack,
            bootID: before.bootID, unoptimizedPagesBefore: before.unoptimizedPages)
        var reserved = false
        do throws(BackendError) {
            if added > 0 { intent.nodePagesBefore = try pages.count(node: node, pageSize: config.pageSize) }
            try intent.save(intentPath)
            try cut(.intentSaved)
            if added > 0 {
                // Throws ENOMEM, having given back what the kernel gave, when it gives fewer than asked.
                _ = try pages.reserve(added, node: node, pageSize: config.pageSize)
                reserved = true
                try cut(.pagesReserved)
                try after.save(recordPath)
                try cut(.recordSaved)
            }
            try applySegments(plan, config: config, resized: resized, operation: operation)
            try cut(.mountsArranged)
            if added == 0 {
                try after.save(recordPath)
                try cut(.recordSaved)
            }
        } catch {
            if error.isSimulatedCrash { throw error }
            try? before.save(recordPath)
            HugetlbResizeIntent.remove(intentPath)
            if reserved { _ = try? pages.release(added, node: node, pageSize: config.pageSize) }
            throw error
        }
        if givenBack > 0 {
            do throws(BackendError) {
                intent.nodePagesBefore = try pages.count(node: node, pageSize: config.pageSize)
                try intent.save(intentPath)
                try cut(.givingBack)
                try giveBack(givenBack, node: node, pageSize: config.pageSize)
                try cut(.pagesGivenBack)
            } catch {
                if error.isSimulatedCrash { throw error }
                // The pages are still in the pool (the count did not change): the old mounts can hold them again.
                if let back = try? planSegments(
                    resized, found: segments(of: resized, mountPoint: mountPoint, operation: operation),
                    to: config.size, operation: operation)
                {
                    try? applySegments(back, config: resized, resized: config, operation: operation)
                }
                try? before.save(recordPath)
                HugetlbResizeIntent.remove(intentPath)
                throw error
            }
            intent.pagesToGiveBack = 0
            try? intent.save(intentPath)
        }
        logger.info(
            "resized the region's huge page reservation and mounts",
            metadata: [
                "path": "\(mountPoint)", "size": "\(newSize)", "pages_added": "\(added)",
                "pages_given_back": "\(givenBack)", "node": "\(node)", "mounts": "\(plan.description)",
            ]
        )
        return resized
    }

    /// The sizes of the region's mounts, in order, once `plan` is carried out on the mounts `found`.
    static func sizes(after plan: SegmentPlan, found: [HugetlbSegment]) -> [ByteCount] {
        switch plan {
        case .collapse(_, _, let size): return [size]
        case .remount(let segment, let size):
            return found.map { $0.index == segment.index ? size : $0.size }
        case .add(_, let size): return found.map(\.size) + [size]
        case .trim(let removed, let shrunk, let size):
            return found.filter { kept in !removed.contains { $0.index == kept.index } }.map {
                $0.index == shrunk?.index ? size : $0.size
            }
        }
    }

    /// Throws the error of a simulated crash when the test hook `resizeCut` asks to cut at `step`.
    func cut(_ step: HugetlbResizeStep) throws(BackendError) {
        guard let resizeCut, resizeCut(step) else { return }
        throw BackendError(
            "resize-region", "", .canceled, "\(BackendError.simulatedCrashPrefix) after step \(step.rawValue)")
    }

    // MARK: - Arranging the segments

    /// What changes the region's mounts from their sizes to a new total.
    enum SegmentPlan: CustomStringConvertible {
        /// Unmount every segment but 0 (all hold nothing), and mount segment 0 again at `size`.
        case collapse(removed: [HugetlbSegment], zero: HugetlbSegment, size: ByteCount)
        /// Mount segment `segment.index` again at `size` (it holds nothing).
        case remount(segment: HugetlbSegment, size: ByteCount)
        /// Mount a new segment `index` of `size`.
        case add(index: Int, size: ByteCount)
        /// Unmount `removed` (from the end, all hold nothing), then mount `shrunk` again at `size` when given.
        case trim(removed: [HugetlbSegment], shrunk: HugetlbSegment?, size: ByteCount)

        var description: String {
            switch self {
            case .collapse(let removed, _, let size): "one mount of \(size.rawValue) bytes (\(removed.count) removed)"
            case .remount(let segment, let size): "segment \(segment.index) made \(size.rawValue) bytes"
            case .add(let index, let size): "segment \(index) added, \(size.rawValue) bytes"
            case .trim(let removed, let shrunk, let size):
                "\(removed.count) segment(s) removed"
                    + (shrunk.map { ", segment \($0.index) made \(size.rawValue) bytes" } ?? "")
            }
        }
    }

    /// Plans how the region's mounts `found` (together `region.size`) become `target` bytes, or refuses: a shrink
    /// below the end of the last segment that holds a device file (or `lost+found`, or memory being zeroed) is
    /// refused with `EBUSY` naming what it holds and the smallest size allowed.
    func planSegments(_ region: RegionConfig, found: [HugetlbSegment], to target: ByteCount, operation: String)
        throws(BackendError) -> SegmentPlan
    {
        var held: [[String]] = []
        for segment in found { held.append(try heldNames(in: segment.directory, region: region, operation: operation)) }
        let total = found.reduce(UInt64(0)) { $0 + $1.size.rawValue }
        guard let zero = found.first else {
            throw BackendError(
                operation, FilePath(region.path), .noSuchFileOrDirectory, "region \(region.id) has no mount")
        }
        if held.allSatisfy(\.isEmpty) {
            return .collapse(removed: Array(found.dropFirst()), zero: zero, size: target)
        }
        if target.rawValue > total {
            let growth = ByteCount(target.rawValue - total)
            if let last = found.last, last.index > 0, held[found.count - 1].isEmpty {
                return .remount(segment: last, size: ByteCount(last.size.rawValue + growth.rawValue))
            }
            return .add(index: (found.map(\.index).max() ?? 0) + 1, size: growth)
        }
        guard let lastHeld = held.lastIndex(where: { !$0.isEmpty }) else {
            return .collapse(removed: Array(found.dropFirst()), zero: zero, size: target)
        }
        let floor = found[lastHeld].end
        guard target.rawValue >= floor else {
            let holders = found.indices.filter { $0 >= found.firstIndex(where: { $0.end > target.rawValue }) ?? 0 }
                .filter { !held[$0].isEmpty }
                .map { "\(found[$0].directory) holds \(held[$0].joined(separator: ", "))" }
            throw BackendError(
                operation, found[lastHeld].directory, .resourceBusy,
                "region \(region.id) cannot shrink to \(target.spelledOut): \(holders.joined(separator: "; ")). A "
                    + "hugetlbfs mount's size cannot change while files are on it (the kernel has no remount for "
                    + "size=), and the region's memory past \(ByteCount(floor).spelledOut) is in mounts that hold "
                    + "none, so the smallest size it can shrink to now is \(ByteCount(floor).spelledOut) "
                    + "(\(floor) bytes). Destroy those devices (and empty lost+found) to shrink further"
            )
        }
        let removed = Array(found.filter { $0.offset >= target.rawValue }.reversed())
        let shrunk = found.first { $0.offset < target.rawValue && $0.end > target.rawValue }
        return .trim(removed: removed, shrunk: shrunk, size: ByteCount(target.rawValue - (shrunk?.offset ?? 0)))
    }

    /// The mount of `segment` (at its directory) with `size`.
    func mount(of segment: HugetlbSegment, region: RegionConfig, size: ByteCount) -> HugetlbMount {
        HugetlbMount(
            mountPoint: segment.directory, regionID: region.id, pageSize: region.pageSize, size: size,
            segment: segment.index)
    }

    /// Carries out `plan` (from `planSegments`) on the region `config` that becomes `resized`. When a step fails,
    /// the mounts it took away are made again at their old sizes (their pages are still in the node's pool) and
    /// the error says what happened.
    func applySegments(_ plan: SegmentPlan, config: RegionConfig, resized: RegionConfig, operation: String)
        throws(BackendError)
    {
        let mountPoint = FilePath(config.path).lexicallyNormalized()
        switch plan {
        case .collapse(let removed, let zero, let size):
            var gone: [HugetlbSegment] = []
            do throws(BackendError) {
                for segment in removed.reversed() {
                    try unmountSegment(segment, region: config, operation: operation)
                    gone.append(segment)
                    try cut(.mountRemoved)
                }
                var current = config
                current.size = zero.size
                var next = config
                next.size = size
                try swapMount(
                    from: mount(of: zero, region: config, size: zero.size),
                    to: mount(of: zero, region: config, size: size), config: current, resized: next,
                    operation: operation)
            } catch {
                if error.isSimulatedCrash { throw error }
                for segment in gone.reversed() {
                    try? mountSegment(segment, region: config, size: segment.size, operation: operation)
                }
                throw error
            }
        case .remount(let segment, let size):
            try unmountSegment(segment, region: config, operation: operation, keepDirectory: true)
            try cut(.mountRemoved)
            do throws(BackendError) {
                try mountSegment(segment, region: config, size: size, operation: operation)
            } catch {
                try? mountSegment(segment, region: config, size: segment.size, operation: operation)
                throw error
            }
        case .add(let index, let size):
            let segment = HugetlbSegment(
                index: index, directory: Self.segmentDirectory(mountPoint, index), size: size)
            try mountSegment(segment, region: config, size: size, operation: operation)
        case .trim(let removed, let shrunk, let size):
            var gone: [HugetlbSegment] = []
            do throws(BackendError) {
                for segment in removed {
                    try unmountSegment(segment, region: config, operation: operation)
                    gone.append(segment)
                    try cut(.mountRemoved)
                }
                if let shrunk {
                    try unmountSegment(shrunk, region: config, operation: operation, keepDirectory: true)
                    gone.append(shrunk)
                    try cut(.mountRemoved)
                    try mountSegment(shrunk, region: config, size: size, operation: operation)
                }
            } catch {
                if error.isSimulatedCrash { throw error }
                for segment in gone.reversed() {
                    try? mountSegment(segment, region: config, size: segment.size, operation: operation)
                }
                throw error
            }
        }
        _ = resized
    }

    /// Makes `<region>/.segment<k>` (mode 0700, on segment 0) and mounts segment `k` of `size` on it.
    func mountSegment(_ segment: HugetlbSegment, region: RegionConfig, size: ByteCount, operation: String)
        throws(BackendError)
    {
        try Directory.preparePrivate(
            segment.directory, name: "the hugetlbfs mount point \(segment.directory)",
            remedy: "move it away and resize again", operation: operation)
        do throws(BackendError) {
            try mountRegion(mount(of: segment, region: region, size: size), operation: operation)
        } catch {
            try? Syscall.removeDirectory(segment.directory)
            throw error
        }
    }

    /// Unmounts segment `k` (at least 1, holding nothing but ready pool files, which go first) under the pools' room
    /// lock, and removes its mount point unless `keepDirectory`.
    func unmountSegment(
        _ segment: HugetlbSegment, region: RegionConfig, operation: String, keepDirectory: Bool = false
    ) throws(BackendError) {
        let target = mount(of: segment, region: region, size: segment.size)
        let pool = pool(segment.directory)
        try ScrubPool.withRoomLock { () throws(BackendError) in
            try pool.removeAll(operation: operation)
            do throws(Errno) {
                try target.unmount()
            } catch {
                throw BackendError(
                    operation, segment.directory, error,
                    error == .resourceBusy
                        ? "cannot unmount \(segment.directory) (region \(region.id)): a process still has a file on it "
                            + "open or mapped (see 'fuser -vm \(segment.directory)'); stop it, then try again"
                        : "cannot unmount \(segment.directory) (region \(region.id)): \(error)"
                )
            }
        }
        if !keepDirectory { try? Syscall.removeDirectory(segment.directory) }
    }

    /// Replaces the region's mount `old` (segment 0) with `new` (same mount point, another size) under the pool's
    /// room lock, moving the daemon's claim along. When `new` cannot be mounted, `old` is mounted again and claimed,
    /// and the error says why; the pool's ready files are gone either way (they are only free memory).
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
                try cut(.mountRemoved)
                try mountRegion(new, operation: operation)
                try ownership?.claim(mountPoint, for: resized, operation: operation)
            } catch {
                if error.isSimulatedCrash { throw error }
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
                        operation, mountPoint, Errno(rawValue: error.errno.rawValue),
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

extension BackendError {
    /// How the message of a crash that `HugetlbBackend.resizeCut` simulates begins.
    static let simulatedCrashPrefix = "simulated crash"

    /// Whether this error is a crash a test simulated: nothing may be undone after it.
    var isSimulatedCrash: Bool { errno == .canceled && message.hasPrefix(Self.simulatedCrashPrefix) }
}
