// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// One hugetlbfs mount holding part of a hugetlb region's memory. Segment 0 is mounted at the region's path;
/// segment `k` (from 1 on) at `<region path>/.segment<k>`, made when the region grew while its devices held its
/// memory. Each segment's `size=` caps what the files on it hold, so the segments' sizes add up to the region's size
/// and no file can hold more than its segment has free. In the region's offsets, segment `k` stands for
/// `[offset, offset + size)`, after the segments before it: a grow adds memory at the end, a shrink gives back
/// segments from the end.
struct HugetlbSegment: Equatable {
    /// 0 for the region's own mount, `k` for `.segment<k>`.
    var index: Int
    /// Where the segment is mounted: its device files are in this directory.
    var directory: FilePath
    /// The segment's `size=` (and `min_size=`).
    var size: ByteCount
    /// The region offset the segment starts at.
    var offset: UInt64 = 0

    /// The region offset just past the segment.
    var end: UInt64 { offset + size.rawValue }
}

extension HugetlbBackend {
    /// `<region path>/.segment<k>`.
    static func segmentDirectory(_ mountPoint: FilePath, _ index: Int) -> FilePath {
        mountPoint.appending(".segment\(index)")
    }

    /// Whether `name`, in segment 0, is the mount point of another segment (`.segment<k>`).
    static func isSegmentDirectoryName(_ name: String) -> Bool {
        name.hasPrefix(".segment") && Int(name.dropFirst(".segment".count)).map { $0 > 0 } == true
    }

    /// The region's segments that are mounted now, in order, each with its offset: none when segment 0 (the region's
    /// own mount) is not there. Read from `/proc/self/mountinfo`, so the layout outlives the daemon.
    func segments(of region: RegionConfig, mountPoint: FilePath, operation: String) throws(BackendError)
        -> [HugetlbSegment]
    {
        let mounts: [HugetlbMountInfo]
        do throws(Errno) {
            mounts = try HugetlbMountInfo.all()
        } catch {
            throw BackendError(operation, "/proc/self/mountinfo", error, "cannot read /proc/self/mountinfo: \(error)")
        }
        func isSegment(_ info: HugetlbMountInfo, _ index: Int) -> Bool {
            info.fileSystemType == "hugetlbfs" && info.hugePageSize == region.pageSize.rawValue
                && info.source == HugetlbMount.source(regionID: region.id, segment: index)
        }
        guard let zero = mounts.last(where: { $0.mountPoint == mountPoint.string }), isSegment(zero, 0) else {
            return []
        }
        var found = [HugetlbSegment(index: 0, directory: mountPoint, size: ByteCount(zero.sizeOption ?? 0))]
        let prefix = HugetlbMount.source(regionID: region.id, segment: 1).dropLast()
        for info in mounts where info.source.hasPrefix(prefix) {
            guard let index = Int(info.source.dropFirst(prefix.count)), index > 0, isSegment(info, index),
                info.mountPoint == Self.segmentDirectory(mountPoint, index).string,
                !found.contains(where: { $0.index == index })
            else { continue }
            found.append(
                HugetlbSegment(
                    index: index, directory: FilePath(info.mountPoint), size: ByteCount(info.sizeOption ?? 0)))
        }
        found.sort { $0.index < $1.index }
        var offset: UInt64 = 0
        for position in found.indices {
            found[position].offset = offset
            offset += found[position].size.rawValue
        }
        return found
    }

    /// The directories of the region's segments, segment 0 (which must be mounted) first.
    func segmentDirectories(_ region: RegionConfig, operation: String) throws(BackendError) -> [FilePath] {
        let mountPoint = try deviceDirectory(region, operation: operation)
        let found = try segments(of: region, mountPoint: mountPoint, operation: operation)
        return found.isEmpty ? [mountPoint] : found.map(\.directory)
    }

    /// The segment directory that holds `device`'s file (under either name), or `nil` when none does.
    func segmentDirectory(holding device: DaxPoolCore.DeviceID, in region: RegionConfig, operation: String)
        throws(BackendError) -> FilePath?
    {
        // Segment 0 first, without reading the mount table: most devices are there.
        let mountPoint = try deviceDirectory(region, operation: operation)
        if try FileBackedDevices(directory: mountPoint, logger: logger).existingFile(of: device, operation: operation)
            != nil
        {
            return mountPoint
        }
        for segment in try segments(of: region, mountPoint: mountPoint, operation: operation).dropFirst()
        where try FileBackedDevices(directory: segment.directory, logger: logger).existingFile(
            of: device, operation: operation) != nil
        {
            return segment.directory
        }
        return nil
    }

    /// What in the segment at `directory` holds memory nobody may lose when the segment is unmounted: device files,
    /// `lost+found`, anything daxpool does not know, and destroyed devices' memory still being zeroed (`dirty.*`).
    /// Ready pool files, the region's claim marker and other segments' mount points are not.
    func heldNames(in directory: FilePath, region: RegionConfig, operation: String) throws(BackendError) -> [String] {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directory)
        } catch {
            throw BackendError(operation, directory, error, "cannot list the region mount \(directory): \(error)")
        }
        var held = names.filter { name in
            name != ScrubPool.directoryName && RegionDirectoryClaim.parseMarker(name)?.regionID != region.id
                && !Self.isSegmentDirectoryName(name)
        }
        held += try pool(directory).names(operation: operation).filter { $0.hasPrefix("dirty.") }.map {
            "\(ScrubPool.directoryName)/\($0) (a destroyed device's memory being zeroed)"
        }
        return held.sorted()
    }

    /// The memory a new device can have in `segment`: its size less what its device files, files waiting for a
    /// scrub and files being filled hold (ready pool files are free memory: a commit evicts them).
    func room(in segment: HugetlbSegment, operation: String) throws(BackendError) -> Int64 {
        let usage = try pool(segment.directory).usage(operation: operation)
        return Int64(clamping: segment.size.rawValue) - usage.devices - usage.other
    }

    /// The segment a device whose ranges are `extents` lies in: the one whose offsets hold all of them (the allocator
    /// keeps a device inside one of the region's parts, `RegionConfig.segments`), or `nil` without extents or when
    /// they lie in more than one.
    static func segment(of extents: [Extent], in found: [HugetlbSegment]) -> HugetlbSegment? {
        guard let first = extents.first,
            let segment = found.first(where: { $0.offset <= first.start.rawValue && first.start.rawValue < $0.end }),
            extents.allSatisfy({ $0.start.rawValue >= segment.offset && $0.end.rawValue <= segment.end })
        else { return nil }
        return segment
    }

    /// The segment directory a device's file goes to: where it is already; else the segment whose offsets hold its
    /// extents (the allocator placed it there, within that segment's memory); without extents, the first segment
    /// with a ready file of exactly `size`, else the first segment with room. A device is one file, and a file lies
    /// on one mount.
    /// - Throws: `BackendError` (`ENOSPC`) when no segment has room for `size`, naming each segment's room.
    func placement(
        of device: DaxPoolCore.DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig,
        segments found: [HugetlbSegment], operation: String
    ) throws(BackendError) -> FilePath {
        for segment in found
        where try FileBackedDevices(directory: segment.directory, logger: logger).existingFile(
            of: device, operation: operation) != nil
        {
            return segment.directory
        }
        if let segment = Self.segment(of: extents, in: found) { return segment.directory }
        let length = Int64(clamping: size.rawValue)
        if keepsScrubbedFiles {
            for segment in found
            where try pool(segment.directory).entries(operation: operation).contains(where: {
                $0.size == length && $0.allocatedBytes >= length
            }) {
                return segment.directory
            }
        }
        var rooms: [Int64] = []
        for segment in found { rooms.append(try room(in: segment, operation: operation)) }
        if let first = extents.first?.start.rawValue,
            let position = found.firstIndex(where: { $0.offset <= first && first < $0.end }), rooms[position] >= length
        {
            return found[position].directory
        }
        if let position = rooms.firstIndex(where: { $0 >= length }) { return found[position].directory }
        let described = zip(found, rooms).map { segment, room in
            "\(segment.directory) \(ByteCount(UInt64(max(room, 0))).spelledOut) of \(segment.size.spelledOut)"
        }
        throw BackendError(
            operation, found.first?.directory ?? FilePath(region.path), .noSpace,
            "no hugetlbfs mount of region \(region.id) has room for \(size.spelledOut) for \(device): the region grew "
                + "while devices held its memory, so its memory is in \(found.count) mounts (free: "
                + "\(described.joined(separator: "; "))) and a device lies in one. Destroy devices, or ask for a "
                + "smaller device"
        )
    }

    // MARK: - Device operations over every segment

    /// The device's file: `<segment>/daxR.N` in the segment that holds it (`<region path>/daxR.N` when none does).
    public func devicePath(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) -> String? {
        let held = try? segmentDirectory(holding: device, in: region, operation: "list")
        let directory = held ?? FilePath(region.path).lexicallyNormalized()
        return directory.appending(ShmDeviceFiles.enabledName(device)).string
    }

    /// Creates the device file (mode 0600) in the segment `placement` chooses, or resizes it where it is.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig
    ) throws(BackendError) {
        try provisionSegmentFile(device, size: size, extents: extents, region: region) { _, _ in }
    }

    /// `provisionDevice`, telling `progress` (bytes committed, total) as it goes.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID, size: ByteCount, extents: [Extent], align: Alignment,
        in region: RegionConfig, progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        try provisionSegmentFile(device, size: size, extents: extents, region: region, progress: progress)
    }

    /// The work of both `provisionDevice`s: one segment is the file backends' common case.
    func provisionSegmentFile(
        _ device: DaxPoolCore.DeviceID, size: ByteCount, extents: [Extent], region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let operation = "provision-device"
        let mountPoint = try deviceDirectory(region, operation: operation)
        let found = try segments(of: region, mountPoint: mountPoint, operation: operation)
        guard found.count > 1 else {
            try provisionFile(device, size: size, region: region, progress: progress)
            return
        }
        let directory = try placement(
            of: device, size: size, extents: extents, in: region, segments: found, operation: operation)
        try provisionFile(device, size: size, region: region, in: directory, progress: progress)
    }

    /// The larger of the device file's length and the memory it holds, in whichever segment it is.
    public func memoryHeld(by device: DaxPoolCore.DeviceID, in region: RegionConfig) -> ByteCount? {
        guard let directory = try? segmentDirectory(holding: device, in: region, operation: "list") else { return nil }
        return memoryHeld(by: device, inDirectory: directory)
    }

    /// The segment directory holding the device's file, or the region's path (whose error then names the file).
    func deviceSegment(_ device: DaxPoolCore.DeviceID, in region: RegionConfig, operation: String)
        throws(BackendError) -> FilePath
    {
        if let directory = try segmentDirectory(holding: device, in: region, operation: operation) { return directory }
        return try deviceDirectory(region, operation: operation)
    }

    /// Renames `.daxR.N.disabled` to `daxR.N` (enable) or back (disable), in the device's segment.
    public func setDeviceEnabled(_ device: DaxPoolCore.DeviceID, enabled: Bool, in region: RegionConfig)
        throws(BackendError)
    {
        let directory = try deviceSegment(device, in: region, operation: enabled ? "enable-device" : "disable-device")
        try FileBackedDevices(directory: directory, logger: logger).setEnabled(device, enabled: enabled)
    }

    /// Gives the device file to `uid`, mode 0600.
    public func setDeviceOwner(_ device: DaxPoolCore.DeviceID, uid: UInt32, in region: RegionConfig)
        throws(BackendError)
    {
        let directory = try deviceSegment(device, in: region, operation: "set-device-owner")
        try FileBackedDevices(directory: directory, logger: logger).setOwner(of: device, uid: uid)
    }

    /// Truncates the device file to zero (see `PooledFileBackend.revokeDevice`).
    public func revokeDevice(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) throws(BackendError) {
        let directory = try deviceSegment(device, in: region, operation: "revoke-device")
        try FileBackedDevices(directory: directory, logger: logger).revoke(device)
    }

    /// Renames the device's file to `.pool/dirty.<token>` of its own segment (a rename cannot leave a mount).
    public func retireDevice(_ device: DaxPoolCore.DeviceID, token: String, in region: RegionConfig)
        throws(BackendError)
    {
        let operation = "destroy-device"
        let directory = try deviceSegment(device, in: region, operation: operation)
        watcher?.unwatch(device)
        let files = FileBackedDevices(directory: directory, logger: logger).files(of: device)
        let pool = pool(directory)
        for path in [files.enabled, files.disabled] where try pool.hide(path, token: token, operation: operation) {
            return
        }
    }

    /// Zeroes `.pool/dirty.<token>` of the segment that holds it and keeps it as a ready file of that segment.
    public func scrubRetired(
        token: String, size: ByteCount, in region: RegionConfig, progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        let operation = "scrub"
        let directories = try segmentDirectories(region, operation: operation)
        var chosen = pool(directories[0])
        for directory in directories {
            let candidate = pool(directory)
            let dirty = try candidate.dirtyPath(token: token, operation: operation)
            if (try? Syscall.linkStatusIfPresent(dirty)).flatMap({ $0 }) != nil {
                chosen = candidate
                break
            }
        }
        let outcome = try withoutActuallyEscaping(progress) { report throws(BackendError) in
            try chosen.scrubHidden(token: token, expectedSize: Int64(clamping: size.rawValue), operation: operation) {
                done, total in
                report(ByteCount(UInt64(done)), ByteCount(UInt64(total)))
            }
        }
        if case .pooled(let size) = outcome {
            logger.debug("scrubbed and pooled", metadata: ["token": "\(token)", "bytes": "\(size)"])
        }
    }

    /// Scrubs the device's file into its segment's pool (or unlinks it) at once.
    public func destroyDevice(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) throws(BackendError) {
        let operation = "destroy-device"
        let directory = try deviceSegment(device, in: region, operation: operation)
        watcher?.unwatch(device)
        let files = FileBackedDevices(directory: directory, logger: logger).files(of: device)
        for path in [files.enabled, files.disabled] {
            try retire(path, in: directory, operation: operation)
        }
    }

    /// Makes the ready files `region.pool` names, segment by segment: each segment makes those that no other
    /// segment holds ready, within its own size.
    public func fillPool(
        in region: RegionConfig, shouldContinue: () -> Bool, progress: (ByteCount, ByteCount) -> Void
    ) throws(BackendError) {
        guard keepsScrubbedFiles, !region.pool.isEmpty else { return }
        let operation = "fill-pool"
        let mountPoint = try deviceDirectory(region, operation: operation)
        var found = try segments(of: region, mountPoint: mountPoint, operation: operation)
        if found.isEmpty { found = [HugetlbSegment(index: 0, directory: mountPoint, size: region.size)] }
        let targets = region.pool.map { Int64(clamping: $0.rawValue) }
        let pageSize = Int64(clamping: region.pageSize.rawValue)
        let chunk = max(Self.fillChunk / pageSize, 1) * pageSize
        var skipped: [Int64] = []
        for segment in found {
            var others: [Int64] = []
            for other in found where other.index != segment.index {
                others += try pool(other.directory).entries(operation: operation).filter {
                    $0.allocatedBytes >= $0.size
                }.map(\.size)
            }
            var wanted = targets
            for size in others { if let at = wanted.firstIndex(of: size) { wanted.remove(at: at) } }
            guard !wanted.isEmpty else { continue }
            let outcome = try pool(segment.directory).fill(
                targets: wanted, regionSize: Int64(clamping: segment.size.rawValue), chunk: chunk,
                node: memoryNode(of: region), operation: operation, shouldContinue: shouldContinue
            ) { done, total in
                progress(ByteCount(UInt64(done)), ByteCount(UInt64(total)))
            }
            skipped = outcome.skipped
            if outcome.stopped { return }
        }
        if !skipped.isEmpty {
            logger.notice(
                "the region has no room for some pool files now; they are made when memory is free",
                metadata: ["region": "\(region.id)", "sizes": "\(skipped)"])
        }
    }

    /// The sizes of the ready files in every segment's pool, smallest first.
    public func readyFiles(in region: RegionConfig) -> [ByteCount] {
        guard keepsScrubbedFiles, let directories = try? segmentDirectories(region, operation: "list") else {
            return []
        }
        var sizes: [ByteCount] = []
        for directory in directories {
            let entries = (try? pool(directory).entries(operation: "list")) ?? []
            sizes += entries.filter { $0.allocatedBytes >= $0.size }.map { ByteCount(UInt64($0.size)) }
        }
        return sizes.sorted()
    }

    /// The regular files in every segment's `lost+found`.
    public func lostFiles(in region: RegionConfig) -> [LostFile] {
        guard let directories = try? segmentDirectories(region, operation: "list") else { return [] }
        return directories.flatMap { directory in
            (try? LostAndFound(regionDirectory: directory).files(operation: "list")) ?? []
        }
    }

    /// The device files of every segment, with their sizes and owners: evidence for `daxpool recover`.
    public func heldMemory(in region: RegionConfig) -> [HeldMemory] {
        guard let directories = try? segmentDirectories(region, operation: "recover") else { return [] }
        return directories.flatMap { heldMemory(of: region, inDirectory: $0) }
    }

    /// `reconcileFiles` in each segment, each device in the segment that holds its file (a missing file is made in
    /// the segment whose offsets hold its extents, as `placement` puts it, else in segment 0).
    func reconcileSegments(
        _ region: RegionConfig, mountPoint: FilePath, devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub], mode: ReconcileMode
    ) throws(BackendError) -> ReconcileReport {
        let found = try segments(of: region, mountPoint: mountPoint, operation: "reconcile")
        guard found.count > 1 else {
            return try reconcileFiles(
                region, in: mountPoint, devices: devices, pendingScrubs: pendingScrubs, mode: mode)
        }
        var bySegment = Array(repeating: [(record: DeviceRecord, extents: [Extent])](), count: found.count)
        for device in devices {
            var position =
                Self.segment(of: device.extents, in: found).flatMap { segment in
                    found.firstIndex(of: segment)
                } ?? 0
            for (index, segment) in found.enumerated()
            where try FileBackedDevices(directory: segment.directory, logger: logger).existingFile(
                of: device.record.id, operation: "reconcile") != nil
            {
                position = index
                break
            }
            bySegment[position].append(device)
        }
        var report = ReconcileReport()
        for (index, segment) in found.enumerated() {
            let part = try reconcileFiles(
                region, in: segment.directory, devices: bySegment[index], pendingScrubs: pendingScrubs, mode: mode)
            report.lostAndFound += part.lostAndFound
            report.doubts += part.doubts
            report.notes += part.notes
        }
        return report
    }
}
