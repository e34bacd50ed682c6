// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// The start-up reconcile of a file-backed region directory. Nothing that no record accounts for is destroyed:
///
/// - a device file (`daxR.N` or `.daxR.N.disabled`) that no device owns is retired under the token of a pending
///   scrub that names its device (a crash between a destroy's commit and its retire: the scrub service zeroes it),
///   and otherwise moved, untouched, into `lost+found` (`LostAndFound`);
/// - a device with files under both names keeps the one its state asks for; the other goes to `lost+found`;
/// - a device file larger than its record is never truncated: it is left as it is and reported (its owner grew it);
///   a smaller or missing one is grown or created (nothing is lost);
/// - in `.keep` mode nothing in the directory changes: what is found is only reported.
extension FileBackedDevices {
    /// Brings the directory in line with the persisted devices as far as that destroys nothing (see above):
    /// `commit(record, path, size, creating)` makes a device's file exactly `size` bytes, all committed;
    /// `retire(path, token)` hides a file under a pending scrub's token and says whether there was one;
    /// `watch(record, path, size)` maps a device's file for memory-error reports.
    /// - Returns: the files moved to `lost+found`, the doubts and what was repaired.
    func reconcile(
        _ devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode,
        commit: (DeviceRecord, FilePath, ByteCount, Bool) throws(BackendError) -> Void,
        retire: (FilePath, String) throws(BackendError) -> Bool,
        watch: (DeviceRecord, FilePath, ByteCount) -> Void
    ) throws(BackendError) -> ReconcileReport {
        let operation = "reconcile"
        var report = ReconcileReport()
        var owned: Set<String> = []
        for (record, _) in devices {
            owned.insert(ShmDeviceFiles.enabledName(record.id))
            owned.insert(ShmDeviceFiles.disabledName(record.id))
        }
        var usedTokens: Set<String> = []
        for name in try deviceFileNames(operation: operation) ?? [] where !owned.contains(name) {
            keepOrphan(
                name, pendingScrubs: pendingScrubs, mode: mode, usedTokens: &usedTokens, report: &report,
                retire: retire)
        }
        for (record, extents) in devices {
            let size = try totalSize(of: record.id, extents)
            reconcileDevice(record, size: size, mode: mode, report: &report, commit: commit, watch: watch)
        }
        return report
    }

    /// A device file no device owns: retired under the newest unused pending scrub of its device, else moved to
    /// `lost+found`; left in place (and reported) in `.keep` mode or when it cannot be moved.
    private func keepOrphan(
        _ name: String,
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode,
        usedTokens: inout Set<String>,
        report: inout ReconcileReport,
        retire: (FilePath, String) throws(BackendError) -> Bool
    ) {
        let operation = "reconcile"
        let path = directory.appending(name)
        let status: FileStatus?
        do throws(BackendError) {
            status = try regularFileStatus(path, operation: operation)
        } catch {
            report.doubts.append("\(error.message); left as it is")
            return
        }
        guard let status else { return }
        guard mode == .normal else {
            report.notes.append(
                "\(path) (\(status.size) bytes) belongs to no device; left in place because the region is in doubt")
            return
        }
        if let device = ShmDeviceFiles.device(fromFileName: name),
            let scrub = pendingScrubs.filter({ $0.device == device && !usedTokens.contains($0.token) })
                .max(by: { $0.id < $1.id })
        {
            do throws(BackendError) {
                if try retire(path, scrub.token) {
                    usedTokens.insert(scrub.token)
                    report.notes.append(
                        "\(path) belongs to destroyed \(device): retired under pending scrub \(scrub.id), which "
                            + "zeroes it")
                    logger.notice(
                        "retired the memory file of a destroyed device under its pending scrub",
                        metadata: ["path": "\(path)", "device": "\(device)", "scrub": "\(scrub.id)"])
                    return
                }
            } catch {
                logger.warning(
                    "cannot retire a destroyed device's memory file under its pending scrub; keeping it in lost+found",
                    metadata: ["path": "\(path)", "error": "\(error.message)"])
            }
        }
        // An empty file holds no memory and no one's bytes (a create that a crash cut before it allocated, or a
        // revoked device): there is nothing to keep.
        if status.size == 0, status.allocatedBytes == 0 {
            do throws(Errno) {
                try Syscall.unlink(path)
                report.notes.append("\(path) belongs to no device and is empty: removed")
                return
            } catch {
                logger.warning(
                    "cannot remove an empty memory file", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        moveToLostAndFound(name, why: "belongs to no device", report: &report)
    }

    /// One persisted device: its file put under the name its state asks for and made its size, unless that would
    /// destroy memory (a file larger than the record: a doubt); in `.keep` mode only looked at.
    private func reconcileDevice(
        _ record: DeviceRecord,
        size: ByteCount,
        mode: ReconcileMode,
        report: inout ReconcileReport,
        commit: (DeviceRecord, FilePath, ByteCount, Bool) throws(BackendError) -> Void,
        watch: (DeviceRecord, FilePath, ByteCount) -> Void
    ) {
        let operation = "reconcile"
        let files = files(of: record.id)
        let wanted = files.path(for: record.state)
        let other = record.state == .enabled ? files.disabled : files.enabled
        var wantedStatus: FileStatus?
        let otherStatus: FileStatus?
        do throws(BackendError) {
            wantedStatus = try regularFileStatus(wanted, operation: operation)
            otherStatus = try regularFileStatus(other, operation: operation)
        } catch {
            report.doubts.append("\(record.id): \(error.message); left as it is")
            return
        }
        let metadata: Logger.Metadata = ["device": "\(record.id)", "state": "\(record.state)", "path": "\(wanted)"]
        var found = wantedStatus.map { (path: wanted, status: $0) } ?? otherStatus.map { (path: other, status: $0) }
        if wantedStatus != nil, otherStatus != nil {
            if mode == .normal, let name = other.lastComponent?.string {
                moveToLostAndFound(
                    name, why: "is a second file of \(record.id), whose file is \(wanted)", report: &report)
            } else {
                report.notes.append("\(record.id) has files under both names, \(wanted) and \(other); both left")
            }
        }
        let length = Int64(clamping: size.rawValue)
        if let found, found.status.size > length {
            // The record is checked against its second copy before reconcile runs (a region in doubt comes here in
            // `.keep`), so a bigger file is its owner's growth: excess, reported by `list` and cut back on destroy,
            // not a reason to doubt the region (which would let a tenant stop every change in it).
            report.notes.append(
                "\(found.path) holds \(found.status.size) bytes, more than the \(size.rawValue) of \(record.id)'s "
                    + "record (its owner grew it): left as it is, not truncated")
            logger.warning("a device file is larger than its record; left as it is", metadata: metadata)
            watchIfAllocated(record, found.path, found.status, size: size, watch: watch)
            return
        }
        guard mode == .normal else {
            if let found {
                if found.path != wanted {
                    report.notes.append("\(record.id)'s file is \(found.path), not \(wanted); left there")
                }
                if found.status.size < length {
                    report.notes.append(
                        "\(found.path) holds \(found.status.size) bytes, fewer than the \(size.rawValue) of its "
                            + "record; left as it is")
                }
                watchIfAllocated(record, found.path, found.status, size: size, watch: watch)
            } else {
                report.notes.append("\(record.id) has no file (neither \(wanted) nor \(other)); not recreated")
            }
            return
        }
        if let current = found, current.path != wanted {
            do throws(Errno) {
                try Syscall.rename(current.path, to: wanted)
            } catch {
                report.doubts.append(
                    "cannot rename \(current.path) to \(wanted) to match \(record.id)'s state: \(error)")
                return
            }
            found = (wanted, current.status)
            report.notes.append("renamed \(current.path) to \(wanted) to match \(record.id)'s state")
            logger.notice("renamed memory file to match device state", metadata: metadata)
        }
        if found == nil {
            report.notes.append("recreated the missing file of \(record.id) (\(size.rawValue) bytes)")
            logger.notice("recreating missing memory file", metadata: metadata)
        } else if let status = found?.status, status.size < length {
            report.notes.append("grew \(wanted) from \(status.size) to \(size.rawValue) bytes, its record's size")
        }
        do throws(BackendError) {
            try commit(record, wanted, size, found == nil)
        } catch {
            report.doubts.append("cannot make \(wanted) the \(size.rawValue) bytes of \(record.id): \(error.message)")
            return
        }
        watch(record, wanted, size)
    }

    /// Moves the file `name` to `lost+found` and reports it; reports a doubt and leaves it when it cannot.
    private func moveToLostAndFound(_ name: String, why: String, report: inout ReconcileReport) {
        let path = directory.appending(name)
        do throws(BackendError) {
            let lost = try LostAndFound(regionDirectory: directory).move(name, operation: "reconcile")
            report.lostAndFound.append(lost)
            logger.notice(
                "moved a memory file to lost+found, untouched",
                metadata: ["path": "\(path)", "to": "\(lost.path)", "bytes": "\(lost.size.rawValue)", "why": "\(why)"])
        } catch {
            report.doubts.append("\(path) \(why) and cannot be moved to lost+found (\(error.message)); left in place")
            logger.warning(
                "cannot move a memory file to lost+found; left in place",
                metadata: ["path": "\(path)", "error": "\(error.message)"])
        }
    }

    /// Maps the device's file for memory-error reports when that allocates nothing: the file holds at least
    /// `size` bytes and every page of it is allocated (a mapping populates what it maps, and tmpfs fills holes).
    private func watchIfAllocated(
        _ record: DeviceRecord, _ path: FilePath, _ status: FileStatus, size: ByteCount,
        watch: (DeviceRecord, FilePath, ByteCount) -> Void
    ) {
        guard status.size >= Int64(clamping: size.rawValue), status.allocatedBytes >= status.size else { return }
        watch(record, path, size)
    }

    /// The status of the regular file at `path`, `nil` when nothing is there; anything else there is an error.
    private func regularFileStatus(_ path: FilePath, operation: String) throws(BackendError) -> FileStatus? {
        let status: FileStatus?
        do throws(Errno) {
            status = try Syscall.linkStatusIfPresent(path)
        } catch {
            throw BackendError(operation, path, error, "cannot look at \(path): \(error)")
        }
        guard let status else { return nil }
        guard status.isRegularFile else {
            throw BackendError(
                operation, path, .invalidArgument, "\(path) is not a regular file, so it cannot be device memory")
        }
        return status
    }

    /// The sum of `extents`.
    private func totalSize(of device: DaxPoolCore.DeviceID, _ extents: [Extent]) throws(BackendError) -> ByteCount {
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
}
