// Linux only.
import DaxPoolCore
import SystemPackage

extension ShmBackend {
    /// Brings the region back after a start (tmpfs is empty after a reboot): the directory is made if missing,
    /// mounted (with `mountsRegions`) and claimed in either mode. Then, in `.normal` mode, every device's file is
    /// put under the name its state asks for and grown or created to its size, all committed; a file larger than
    /// its record is left as it is (a doubt); device files that no device owns go to `lost+found` unless a pending
    /// scrub accounts for them; what a crash left half-scrubbed or half-filled in the pool is removed; other files
    /// are left alone (`PooledFileBackend.reconcileFiles`). In `.keep` mode no file is changed. A region mount whose
    /// `size=` a resize changed without the state committing it is brought back to the state's size in place when
    /// its files fit, else reported as a doubt (`reconcileMountSize`).
    public func reconcile(
        _ region: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode
    ) throws(BackendError) -> ReconcileReport {
        let operation = "reconcile"
        let directory = try regionDirectory(region, operation: operation)
        _ = try prepareDirectory(directory, operation: operation)
        if mountsRegions {
            try mountRegion(region, at: directory, operation: operation, adopting: true)
        }
        try ownership?.claim(directory, for: region, operation: operation)
        let resize = try reconcileMountSize(region, at: directory, operation: operation)
        var report = try reconcileFiles(
            region, in: directory, devices: devices, pendingScrubs: pendingScrubs, mode: mode)
        report.doubts += resize.doubts
        report.notes += resize.notes
        return report
    }
}
