// Linux only.
import DaxPoolCore
import DaxPoolSystem
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
        return try absoluteRegionPath(
            region, operation: operation,
            example: "a mount point such as \(Self.defaultRegionPath(regionID: region.id))")
    }

    /// Why the host cannot give a region pages of `pageSize` on NUMA node `node`, or `nil`: a node that is not
    /// online, or a page size the kernel does not offer on it (its `hugepages-<kB>kB` directory is missing). Asked
    /// of the kernel's sysfs only: with another `HugetlbPageCounter` (a fake kernel) that counter answers for it.
    func hostRefusal(node: Int, pageSize: Alignment) -> BackendRefusal? {
        guard let sysfs = pages as? HugetlbSysfsPageCounter, let online = try? NUMANodes.online(root: sysfs.root)
        else { return nil }
        guard online.contains(node) else {
            return BackendRefusal(
                .invalidRequest,
                "NUMA node \(node) does not exist on this host (online nodes: "
                    + "\(online.isEmpty ? "none" : online.map(String.init).joined(separator: ", "))): "
                    + "ask for one of those with --node, or omit --node for node \(Self.defaultNode)"
            )
        }
        let sizes = sysfs.path(node: node, pageSize: pageSize).removingLastComponent()
        guard (try? Syscall.linkStatusIfPresent(sizes)) == nil else { return nil }
        let offered = ((try? Syscall.directoryEntries(sizes.removingLastComponent())) ?? []).compactMap { name in
            Self.pageSize(directoryName: name)
        }.sorted()
        return BackendRefusal(
            .invalidRequest,
            "the kernel offers no \(pageSize) huge pages on NUMA node \(node) (it offers "
                + "\(offered.isEmpty ? "none" : offered.map(\.description).joined(separator: ", "))): "
                + "choose --page-size \(offered.first.map(\.description) ?? "2M"), or boot with hugepagesz=\(pageSize)"
        )
    }

    /// The page size a `hugepages-<kB>kB` directory stands for, or `nil` for another name.
    static func pageSize(directoryName name: String) -> Alignment? {
        guard name.hasPrefix("hugepages-"), name.hasSuffix("kB"),
            let kibibytes = UInt64(name.dropFirst("hugepages-".count).dropLast("kB".count))
        else { return nil }
        return Alignment(rawValue: kibibytes << 10)
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
