// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

extension HugetlbBackend {
    /// Brings the region back after a start. After a reboot the reservation and the mounts are gone: the pages are
    /// reserved again (and recorded) and hugetlbfs is mounted again, in either mode, as the state's layout says
    /// (`RegionConfig.segments`: segment 0 at the region's path, segment `k` at `<path>/.segment<k>`, each with its
    /// size), so that every device's file is made again in the segment that holds its extents, at the path it had. After a daemon restart the
    /// mount is still there and is reused. Then, in `.normal` mode, as `ShmBackend` does, every device's file is
    /// put under the name its state asks for and grown or created to its size, all allocated on the region's node;
    /// a file larger than its record is left as it is (a doubt); device files that no device owns go to
    /// `lost+found` unless a pending scrub accounts for them; half-scrubbed pool files left by a crash are removed
    /// (`PooledFileBackend.reconcileFiles`). In `.keep` mode no file is changed. A resize the state never committed
    /// is undone first, as far as the region's devices allow, else reported as a doubt (`repairResize`); each device's
    /// file is reconciled in the mount (segment) that holds it (`reconcileSegments`).
    public func reconcile(
        _ region: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode
    ) throws(BackendError) -> ReconcileReport {
        let operation = "reconcile"
        let mountPoint = try checkRegion(region, operation: operation)
        let node = region.targetNode ?? Self.defaultNode
        let layout = region.segments.isEmpty ? [region.size] : region.segments
        let mount = HugetlbMount(
            mountPoint: mountPoint, regionID: region.id, pageSize: region.pageSize, size: layout[0])
        let recordPath = HugetlbRegionRecord.path(mountPoint: mountPoint, region: region.id)
        let bootID = HugetlbRegionRecord.currentBootID()
        let state = try mountState(mount, operation: operation)
        if case .foreign(let what) = state {
            throw BackendError(
                operation, mountPoint, .resourceBusy,
                "\(mountPoint) has \(what) mounted on it instead of region \(region.id)'s hugetlbfs: unmount it and "
                    + "restart the daemon"
            )
        }
        let record = try HugetlbRegionRecord.load(recordPath)
        if state == .none {
            do throws(TrustedDirectoryError) {
                _ = try TrustedDirectory.ensure(mountPoint, mode: 0o700, purpose: "hugetlb region mount point")
            } catch {
                throw error.backendError(operation, mountPoint)
            }
            // A record from this boot means the pages are still reserved (the mount went away without a destroy).
            let reserved = record.map { $0.bootID == bootID } ?? false
            let wanted = Int(region.size.rawValue / region.pageSize.rawValue)
            let optimizedNow = HugetlbVmemmapOptimization.isEnabled(sysctlPath: vmemmapSysctlPath) ?? false
            if !reserved { warnUnoptimizedReservation(region, optimizedNow: optimizedNow, earlier: record) }
            let added =
                reserved ? record?.pagesAdded ?? 0 : try pages.reserve(wanted, node: node, pageSize: region.pageSize)
            var mounted = false
            do throws(BackendError) {
                try mountRegion(mount, operation: operation)
                mounted = true
                try mountSegments(layout, from: 1, region: region, mountPoint: mountPoint, operation: operation)
                try HugetlbRegionRecord(
                    region: region.id, node: node, pageSize: region.pageSize, pagesAdded: added,
                    vmemmapOptimized: reserved ? record?.vmemmapOptimized ?? false : optimizedNow,
                    bootID: bootID, mountPoint: mountPoint.string,
                    unoptimizedPages: reserved ? record?.unoptimized(of: wanted) : (optimizedNow ? 0 : wanted)
                ).save(recordPath)
            } catch {
                if mounted { try? mount.unmount() }
                if !reserved { _ = try? pages.release(added, node: node, pageSize: region.pageSize) }
                throw error
            }
            logger.notice(
                "mounted the region's hugetlbfs again",
                metadata: [
                    "path": "\(mountPoint)", "pages_added": "\(reserved ? 0 : added)", "segments": "\(layout.count)",
                ]
            )
        } else if record == nil {
            logger.warning(
                "the region's reservation record is missing: its pages will not be given back on destroy",
                metadata: ["path": "\(recordPath)"]
            )
        }
        try ownership?.claim(mountPoint, for: region, operation: operation)
        let repair = try repairResize(region, mountPoint: mountPoint, node: node, mode: mode, operation: operation)
        var report = try reconcileSegments(
            region, mountPoint: mountPoint, devices: devices, pendingScrubs: pendingScrubs, mode: mode)
        report.doubts += repair.doubts
        report.notes += repair.notes
        return report
    }

    /// Warns when a start reserves a region's pages again (after a reboot) while HugeTLB Vmemmap Optimization is
    /// off: the region was created before and is brought back as it was, never refused, but its pages now cost the
    /// full page metadata. HVO is a system-wide setting the daemon does not turn on by itself at start; the
    /// warning says how to (the sysctl, or `hugetlb_free_vmemmap=on` on the kernel command line, both before the
    /// daemon starts).
    func warnUnoptimizedReservation(_ region: RegionConfig, optimizedNow: Bool, earlier: HugetlbRegionRecord?) {
        guard !optimizedNow else { return }
        let costs = VmemmapOptimizationChoice.costs(memory: region.size, pageSize: region.pageSize)
        let message =
            "reserving region \(region.id)'s huge pages again with HugeTLB Vmemmap Optimization off"
            + (earlier?.vmemmapOptimized == true ? " (it was on when the region's pages were last reserved)" : "")
            + ": \(costs). To avoid it, turn HVO on before the daemon starts (sysctl -w "
            + "vm.hugetlb_optimize_vmemmap=1, or hugetlb_free_vmemmap=on on the kernel command line)"
        logger.warning(
            "\(message)",
            metadata: ["region": "\(region.id)", "path": "\(region.path)"]
        )
    }
}
