// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import Logging
import SystemPackage

/// Device memory in files on a hugetlbfs mount with 2 MiB or 1 GiB pages reserved up front on one NUMA node.
/// Needs root: it writes the kernel's huge page pools in sysfs and mounts hugetlbfs.
///
/// - **Region**: adds `size / pageSize` pages to
///   `/sys/devices/system/node/node<N>/hugepages/hugepages-<kB>kB/nr_hugepages`, on top of whatever other users
///   keep there (the pool is shared: daxpool never resets it), and checks that the kernel gave all of them; then
///   mounts hugetlbfs at the region path with `pagesize=,size=<size>,min_size=<size>,mode=0700` (`size` caps the
///   region's files, `min_size` holds its pages). How many pages the region added is kept in
///   `<mount>/../region<id>.hugetlb.json` (`HugetlbRegionRecord`), so `destroyRegion` gives back exactly those.
/// - **Device** `daxR.N`: a file on the mount, mode 0600, every page allocated with `fallocate(2)` while the
///   thread's memory policy is bound to the region's node (`NUMABinding`), or taken ready from the region's pool
///   of scrubbed files (`ScrubPool`). Enable, disable and reconcile behave as in `ShmBackend` (`FileBackedDevices`).
/// - **Destroy**: the file is scrubbed and pooled (or unlinked when another process still holds it), so the next
///   device of the same size is ready at once and never shows the last owner's bytes.
/// - **Page metadata**: a region is never made with HugeTLB Vmemmap Optimization off unless its creator says so
///   (`VmemmapOptimizationChoice`): `--hvo on` turns it on before the pages are reserved, `--hvo off` accepts
///   the full metadata; whether it was on when the pages were reserved is recorded and shown as `page_metadata`.
public struct HugetlbBackend: PooledFileBackend, VmemmapOptimizingBackend {
    /// `hugetlb`.
    public var kind: BackendKind { .hugetlb }

    let logger: Logger
    let pages: any HugetlbPageCounter
    let scrubber: Scrubber
    let scrubThreads: Int
    let keepsScrubbedFiles: Bool
    let watcher: DeviceMemoryWatcher?
    /// `/proc/sys/vm/hugetlb_optimize_vmemmap`, or a file standing in for it in tests.
    let vmemmapSysctlPath: String

    /// The piece of a new device's memory that `fallocate(2)` allocates between progress reports (256 MiB).
    public static let prefaultChunk: Int64 = 256 << 20

    /// - Parameters:
    ///   - logger: receives what `reconcile` repairs and what the pool does.
    ///   - pages: the kernel's huge page pools (a fake in tests).
    ///   - scrubber: zeroes destroyed devices' memory.
    ///   - scrubThreads: threads a scrub may use (default: all online CPUs, at most 4).
    ///   - keepsScrubbedFiles: keep destroyed devices' scrubbed files for reuse (`false`: unlink them, and let
    ///     the kernel zero pages when they are allocated again).
    ///   - watcher: keeps the daemon's own mapping of every device, so that the kernel reports memory errors in
    ///     device memory to the daemon (`nil`: none).
    ///   - vmemmapSysctlPath: the HVO setting read before, and written by `--hvo on`, when pages are reserved
    ///     (a file standing in for it in tests).
    /// The daemon's claims on its regions' mounts (`nil`: none are taken, as in tests of the backend alone).
    let ownership: RegionOwnership?
    /// Tests only: asked after each step of a resize; `true` stops the resize there as a crash would, undoing nothing.
    var resizeCut: (@Sendable (HugetlbResizeStep) -> Bool)? = nil

    /// A hugetlb backend; the defaults are the daemon's: sysfs page pools, up to 4 scrub threads, scrubbed files
    /// kept, no memory watcher, no mount claims, and the real `/proc/sys/vm/hugetlb_optimize_vmemmap`.
    /// `ownership` holds the daemon's claims on its regions' mounts (`nil`: none are taken).
    public init(
        logger: Logger = Logger(label: "daxpool.hugetlb"),
        pages: any HugetlbPageCounter = HugetlbSysfsPageCounter(),
        scrubber: Scrubber = Scrubber(),
        scrubThreads: Int = min(4, Scrubber.onlineProcessorCount),
        keepsScrubbedFiles: Bool = true,
        watcher: DeviceMemoryWatcher? = nil,
        ownership: RegionOwnership? = nil,
        vmemmapSysctlPath: String = HugetlbVmemmapOptimization.sysctlPath
    ) {
        self.vmemmapSysctlPath = vmemmapSysctlPath
        self.ownership = ownership
        self.watcher = watcher
        self.logger = logger
        self.pages = pages
        self.scrubber = scrubber
        self.scrubThreads = max(1, scrubThreads)
        self.keepsScrubbedFiles = keepsScrubbedFiles
    }

    /// The default mount point of region `regionID`: `/run/daxpool/hugetlb/region<id>`.
    public static func defaultRegionPath(regionID: Int) -> String {
        "/run/daxpool/hugetlb/region\(regionID)"
    }

    /// The node a region's pages go to when the request names none.
    public static let defaultNode = 0

    /// `createRegion(_:vmemmapOptimization:)` without a choice: refused while HugeTLB Vmemmap Optimization is off.
    public func createRegion(_ request: RegionConfig) throws -> RegionConfig {
        try createRegion(request, vmemmapOptimization: nil)
    }

    /// Reserves the region's pages on its node (node 0 by default), mounts hugetlbfs at `request.path` (creating
    /// the directory and its parents, mode 0700) and records the reservation. Reuses a mount daxpool made there
    /// before. Whatever it did is undone when a later step fails.
    ///
    /// HugeTLB Vmemmap Optimization acts when pages are allocated, so it is settled before any page is reserved
    /// (`VmemmapOptimizationChoice.step`): while it is off, `vmemmapOptimization` `.on` writes 1 to
    /// `/proc/sys/vm/hugetlb_optimize_vmemmap` first (a system-wide setting, logged as such), `.off` accepts the
    /// full page metadata (logged with its cost), and no choice refuses the region.
    /// - Returns: `request` with `targetNode` set to the node the pages are on.
    /// - Throws: `BackendRefusal`, before anything is made: `invalidRequest` for a NUMA node the host does not have
    ///   or a page size the kernel does not offer on it, naming what it has; `vmemmapOptimizationOff` or
    ///   `vmemmapOptimizationUnavailable` when HVO is off or missing and the choice does not allow it, showing the
    ///   region's page metadata with and without HVO. `BackendError` otherwise.
    public func createRegion(
        _ request: RegionConfig, vmemmapOptimization choice: VmemmapOptimizationChoice?
    ) throws -> RegionConfig {
        let operation = "create-region"
        let mountPoint = try checkRegion(request, operation: operation)
        let node = request.targetNode ?? Self.defaultNode
        if let refusal = hostRefusal(node: node, pageSize: request.pageSize) { throw refusal }
        let step = try VmemmapOptimizationChoice.step(
            optimizedNow: HugetlbVmemmapOptimization.isEnabled(sysctlPath: vmemmapSysctlPath), choice: choice,
            memory: request.size, pageSize: request.pageSize)
        var config = request
        config.targetNode = node
        let mount = HugetlbMount(
            mountPoint: mountPoint, regionID: request.id, pageSize: request.pageSize, size: request.size)
        let recordPath = HugetlbRegionRecord.path(mountPoint: mountPoint, region: request.id)
        let bootID = HugetlbRegionRecord.currentBootID()
        let state = try mountState(mount, operation: operation)
        if case .foreign(let what) = state {
            throw BackendError(
                operation, mountPoint, .resourceBusy,
                "\(mountPoint) already has \(what) mounted on it: choose another --path for the region"
            )
        }
        if state == .ours, let record = try HugetlbRegionRecord.load(recordPath), record.bootID == bootID {
            logger.notice("reusing the hugetlbfs mount daxpool made earlier", metadata: ["path": "\(mountPoint)"])
            try ownership?.claim(mountPoint, for: request, operation: operation)
            return config
        }
        let created: [FilePath]
        do throws(TrustedDirectoryError) {
            created = try TrustedDirectory.ensure(mountPoint, mode: 0o700, purpose: "hugetlb region mount point")
        } catch {
            throw error.backendError(operation, mountPoint)
        }
        let wanted = Int(request.size.rawValue / request.pageSize.rawValue)
        let added: Int
        let vmemmapOptimized: Bool
        do throws(BackendError) {
            if step == .turnOnThenReserve { try turnOnVmemmapOptimization(for: request, operation: operation) }
            vmemmapOptimized = HugetlbVmemmapOptimization.isEnabled(sysctlPath: vmemmapSysctlPath) ?? false
            if state == .ours {
                // Our mount without this boot's record: a create that crashed before recording. Its pages are
                // held by the mount, but how many it added is unknown, so none are given back on destroy.
                logger.warning(
                    "reusing a daxpool hugetlbfs mount without a reservation record: its pages will not be given back",
                    metadata: ["path": "\(mountPoint)"]
                )
                added = 0
            } else {
                added = try pages.reserve(wanted, node: node, pageSize: request.pageSize)
            }
        } catch {
            Directory.removeCreated(created)
            throw error
        }
        do throws(BackendError) {
            if state != .ours { try mountRegion(mount, operation: operation) }
            try ownership?.claim(mountPoint, for: request, operation: operation)
            let record = HugetlbRegionRecord(
                region: request.id, node: node, pageSize: request.pageSize, pagesAdded: added,
                vmemmapOptimized: vmemmapOptimized, bootID: bootID, mountPoint: mountPoint.string,
                unoptimizedPages: vmemmapOptimized ? 0 : wanted
            )
            try record.save(recordPath)
        } catch {
            ownership?.claims.release(directory: mountPoint)
            if state != .ours { try? mount.unmount() }
            _ = try? pages.release(added, node: node, pageSize: request.pageSize)
            Directory.removeCreated(created)
            throw error
        }
        let metadata = PageMetadata(
            memory: request.size, pageSize: request.pageSize, vmemmapOptimized: vmemmapOptimized)
        logger.info(
            "reserved huge pages and mounted hugetlbfs",
            metadata: [
                "path": "\(mountPoint)", "pages": "\(added)", "page_size": "\(request.pageSize)", "node": "\(node)",
                "hvo": "\(vmemmapOptimized ? "on" : "off")", "page_metadata_bytes": "\(metadata.bytes.rawValue)",
            ]
        )
        if !vmemmapOptimized {
            let costs = VmemmapOptimizationChoice.costs(memory: request.size, pageSize: request.pageSize)
            logger.warning(
                "the region's pages were reserved with HugeTLB Vmemmap Optimization off, as asked (--hvo off): \(costs)",
                metadata: ["path": "\(mountPoint)", "page_metadata_bytes": "\(metadata.bytes.rawValue)"]
            )
        }
        return config
    }

    /// Writes 1 to the HVO sysctl before a region's pages are reserved (`--hvo on`), and logs that it did: the
    /// setting is system-wide and stays on.
    func turnOnVmemmapOptimization(for request: RegionConfig, operation: String) throws(BackendError) {
        try HugetlbVmemmapOptimization.enable(sysctlPath: vmemmapSysctlPath, operation: operation)
        let message =
            "turned HugeTLB Vmemmap Optimization on (--hvo on) before reserving the region's pages: "
            + "\(vmemmapSysctlPath) is now 1. This is a system-wide setting: every HugeTLB page the kernel "
            + "allocates from now on is optimized, and it stays on until someone turns it off"
        logger.notice(
            "\(message)",
            metadata: [
                "path": "\(request.path)",
                "costs": "\(VmemmapOptimizationChoice.costs(memory: request.size, pageSize: request.pageSize))",
            ]
        )
    }

    /// Removes the pool, unmounts, removes the mount point and gives back exactly the pages the region added.
    /// Refuses while device files are left, or while a process still has a file of the mount open or mapped.
    public func destroyRegion(_ config: RegionConfig) throws(BackendError) {
        let operation = "destroy-region"
        let mountPoint = try checkRegion(config, operation: operation)
        let mount = HugetlbMount(
            mountPoint: mountPoint, regionID: config.id, pageSize: config.pageSize, size: config.size)
        let devices = FileBackedDevices(directory: mountPoint, logger: logger)
        let state = try mountState(mount, operation: operation)
        if state == .ours {
            let found = try segments(of: config, mountPoint: mountPoint, operation: operation)
            var deviceFiles = try devices.deviceFileNames(operation: operation) ?? []
            for segment in found.dropFirst() {
                let files = FileBackedDevices(directory: segment.directory, logger: logger)
                deviceFiles += try files.deviceFileNames(operation: operation) ?? []
            }
            guard deviceFiles.isEmpty else {
                throw BackendError(
                    operation, mountPoint, .directoryNotEmpty,
                    "region mount \(mountPoint) still holds device files \(deviceFiles.joined(separator: ", ")): "
                        + "destroy those devices first"
                )
            }
            // The region's other mounts (a resize made them) first: they are mounted on its own.
            for segment in found.dropFirst().reversed() {
                try unmountSegment(segment, region: config, operation: operation)
            }
            // Under the room lock: a pool fill between two pieces holds no file open, so the unmount can go on.
            let pool = pool(mountPoint)
            try ScrubPool.withRoomLock { () throws(BackendError) in
                try pool.removeAll(operation: operation)
                ownership?.releaseDestroyed(mountPoint)
                do throws(Errno) {
                    try mount.unmount()
                } catch .resourceBusy {
                    throw BackendError(
                        operation, mountPoint, .resourceBusy,
                        "cannot unmount \(mountPoint): a process still has a file on it open or mapped (see "
                            + "'fuser -vm \(mountPoint)'); stop it, then destroy the region again"
                    )
                } catch {
                    throw BackendError(operation, mountPoint, error, "cannot unmount \(mountPoint): \(error)")
                }
            }
        }
        do throws(Errno) {
            try Syscall.removeDirectory(mountPoint)
        } catch .noSuchFileOrDirectory {
        } catch {
            throw BackendError(
                operation, mountPoint, error,
                "cannot remove the mount point \(mountPoint) (\(error)): remove it by hand"
            )
        }
        try releasePages(config, mountPoint: mountPoint, operation: operation)
    }

    /// The mount point of a region whose hugetlbfs must be mounted.
    func deviceDirectory(_ region: RegionConfig, operation: String) throws(BackendError) -> FilePath {
        try checkMounted(region, operation: operation)
    }

    /// The region's node (node 0 when it names none).
    func memoryNode(of region: RegionConfig) -> Int? { region.targetNode ?? Self.defaultNode }

    /// Every file: each holds whole huge pages, which the kernel is slow to zero.
    static var minimumKeptSize: Int64 { 0 }

    /// The page metadata the host spends on the region's memory: whether HVO applies comes from the region's
    /// record (HVO acts when pages are allocated), else from the current setting. Pages a grow reserved while HVO
    /// was off count at full cost (`HugetlbRegionRecord.unoptimizedPages`); a region whose pages were all reserved
    /// with HVO off is unoptimized.
    public func pageMetadata(for region: RegionConfig) -> PageMetadata {
        let mountPoint = FilePath(region.path).lexicallyNormalized()
        let record =
            (try? HugetlbRegionRecord.load(HugetlbRegionRecord.path(mountPoint: mountPoint, region: region.id)))
            .flatMap { $0 }
        let pages = Int(region.size.rawValue / region.pageSize.rawValue)
        guard let record else {
            let optimized = HugetlbVmemmapOptimization.isEnabled(sysctlPath: vmemmapSysctlPath) ?? false
            return PageMetadata(memory: region.size, pageSize: region.pageSize, vmemmapOptimized: optimized)
        }
        let unoptimized = record.unoptimized(of: pages)
        return PageMetadata(
            memory: region.size, pageSize: region.pageSize, vmemmapOptimized: unoptimized < pages,
            unoptimizedMemory: ByteCount(UInt64(unoptimized) * region.pageSize.rawValue))
    }
}
