// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension ShmBackend {
    /// Makes the region directory match the persisted devices after a start (tmpfs is empty after a reboot):
    /// every device's file exists under the name its state asks for, with exactly the size of its extents, all
    /// committed; device files that no device owns are removed; other files are left alone.
    public func reconcile(
        _ region: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])]
    ) throws(BackendError) {
        let operation = "reconcile"
        let directory = try regionDirectory(region, operation: operation)
        _ = try prepareDirectory(directory, operation: operation)
        var owned: Set<String> = []
        for (record, extents) in devices {
            owned.insert(ShmDeviceFiles.enabledName(record.id))
            owned.insert(ShmDeviceFiles.disabledName(record.id))
            try reconcileDevice(record, size: try totalSize(of: record.id, extents, directory), in: directory)
        }
        try removeOrphans(in: directory, keeping: owned)
    }

    /// The sum of `extents`.
    private func totalSize(of device: DaxPoolCore.DeviceID, _ extents: [Extent], _ directory: FilePath)
        throws(BackendError)
        -> ByteCount
    {
        var total = ByteCount.zero
        for extent in extents {
            guard let sum = total.adding(extent.length) else {
                throw BackendError(
                    "reconcile", directory, .overflow,
                    "the extents of \(device) add up to more than 2^64 bytes: the saved state is corrupt"
                )
            }
            total = sum
        }
        return total
    }

    /// Puts one device's file under the right name with the right size.
    private func reconcileDevice(_ record: DeviceRecord, size: ByteCount, in directory: FilePath) throws(BackendError) {
        let operation = "reconcile"
        let files = ShmDeviceFiles(record.id, in: directory)
        let wanted = files.path(for: record.state)
        let other = record.state == .enabled ? files.disabled : files.enabled
        let wantedPresent = try isPresent(wanted, operation: operation)
        let otherPresent = try isPresent(other, operation: operation)
        switch (wantedPresent, otherPresent) {
        case (false, true):
            do throws(Errno) {
                try Syscall.rename(other, to: wanted)
            } catch {
                throw BackendError(operation, other, error, "cannot rename \(other) to \(wanted): \(error)")
            }
            logger.notice("renamed memory file to match device state", metadata: metadataFor(record, wanted))
        case (true, true):
            do throws(Errno) {
                try Syscall.unlink(other)
            } catch {
                throw BackendError(operation, other, error, "cannot remove the stale memory file \(other): \(error)")
            }
            logger.warning("removed a stale second memory file", metadata: metadataFor(record, other))
        case (false, false):
            logger.notice("recreating missing memory file", metadata: metadataFor(record, wanted))
        case (true, false):
            break
        }
        let creating = !(wantedPresent || otherPresent)
        try commit(record.id, at: wanted, size: size, creating: creating, operation: operation)
        watcher?.watch(record.id, path: wanted, size: size)
    }

    /// Removes device files in `directory` whose names are not in `owned`.
    private func removeOrphans(in directory: FilePath, keeping owned: Set<String>) throws(BackendError) {
        let operation = "reconcile"
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(directory)
        } catch {
            throw BackendError(operation, directory, error, "cannot list the region directory \(directory): \(error)")
        }
        for name in names.sorted() where !owned.contains(name) && ShmDeviceFiles.device(fromFileName: name) != nil {
            let path = directory.appending(name)
            let status: FileStatus?
            do throws(Errno) {
                status = try Syscall.linkStatusIfPresent(path)
            } catch {
                throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
            }
            guard let status, status.isRegularFile else { continue }
            do throws(Errno) {
                try Syscall.unlink(path)
            } catch .noSuchFileOrDirectory {
                continue
            } catch {
                throw BackendError(operation, path, error, "cannot remove the orphaned memory file \(path): \(error)")
            }
            logger.notice(
                "removed memory file that no device owns",
                metadata: ["path": "\(path)", "bytes": "\(status.size)"]
            )
        }
    }

    private func metadataFor(_ record: DeviceRecord, _ path: FilePath) -> Logger.Metadata {
        ["device": "\(record.id)", "state": "\(record.state)", "path": "\(path)"]
    }
}
