// Linux only.
import DaxPoolCore
import SystemPackage

extension ShmBackend {
    /// Makes the region directory match the persisted devices after a start (tmpfs is empty after a reboot):
    /// every device's file exists under the name its state asks for, with exactly the size of its extents, all
    /// committed; device files that no device owns are scrubbed into the pool; what a crash left half-scrubbed or
    /// half-filled in the pool is removed; other files are left alone.
    public func reconcile(
        _ region: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])]
    ) throws(BackendError) {
        let operation = "reconcile"
        let directory = try regionDirectory(region, operation: operation)
        _ = try prepareDirectory(directory, operation: operation)
        if mountsRegions {
            try mountRegion(region, at: directory, operation: operation, adopting: true)
        }
        try ownership?.claim(directory, for: region, operation: operation)
        try reconcileFiles(region, in: directory, devices: devices)
    }
}
