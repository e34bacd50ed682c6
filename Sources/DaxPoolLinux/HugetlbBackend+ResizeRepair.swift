// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension HugetlbBackend {
    /// Brings a region whose mount or reservation a resize changed, without the new size being committed (the
    /// daemon died between the backend's resize and the journal's commit), back to the state's size: the state is
    /// the truth. The region's mount size (`size=` in `/proc/self/mountinfo`) is compared with `region.size`, and
    /// its last resize's intent (`HugetlbResizeIntent`, when its `fromSize` is the state's size and it matches the
    /// region's record) says how many pages that resize added or gave back.
    ///
    /// When the mount must be made again (another size), the region must hold nothing but ready pool files, as a
    /// resize needs: then the missing pages are reserved first, the mount is made again at the state's size, the
    /// record is put back and the pages the resize added are given back, each a note. When it holds a device file
    /// (or anything `checkEmpty` refuses), or in `.keep` mode, nothing is touched and a doubt says what was found.
    /// A resize whose mount is still at the state's size only has its pages put right, which never touches files.
    func repairResize(
        _ region: RegionConfig, mountPoint: FilePath, node: Int, mode: ReconcileMode, operation: String
    ) throws(BackendError) -> ReconcileReport {
        var report = ReconcileReport()
        let size = region.size.rawValue
        let recordPath = HugetlbRegionRecord.path(mountPoint: mountPoint, region: region.id)
        let intentPath = HugetlbResizeIntent.path(mountPoint: mountPoint, region: region.id)
        let bootID = HugetlbRegionRecord.currentBootID()
        let info: HugetlbMountInfo?
        do throws(Errno) {
            info = try HugetlbMountInfo.mounted(at: mountPoint.string)
        } catch {
            throw BackendError(operation, "/proc/self/mountinfo", error, "cannot read /proc/self/mountinfo: \(error)")
        }
        let mountSize = info?.sizeOption ?? size
        var record = try HugetlbRegionRecord.load(recordPath)
        // The pages the region holds now (`held`) and those the state's size had (`wanted`).
        var held = record?.pagesAdded ?? 0
        var wanted = held
        var intent: HugetlbResizeIntent?
        if let found = HugetlbResizeIntent.load(intentPath) {
            if found.region == region.id, found.fromSize == size, found.toSize != size, found.bootID == bootID,
                let current = record, current.bootID == bootID
            {
                if current.pagesAdded == found.pagesAddedAfter {
                    // The record was written: a shrink's pages may still wait to be given back.
                    held = found.pagesAddedAfter + found.pagesToGiveBack
                    intent = found
                } else if current.pagesAdded == found.pagesAddedBefore {
                    // The record was not written (or was put back): a grow's pages were already added.
                    held = found.pagesAddedBefore + max(0, found.pagesAddedAfter - found.pagesAddedBefore)
                    intent = found
                }
                wanted = found.pagesAddedBefore
            }
            if intent == nil { HugetlbResizeIntent.remove(intentPath) }
        }
        guard mountSize != size || held != wanted else {
            if intent != nil { HugetlbResizeIntent.remove(intentPath) }
            return report
        }
        let found =
            "region \(region.id)'s hugetlbfs at \(mountPoint) is mounted at \(mountSize) bytes while its state says "
            + "\(size)\(held != wanted ? " and it holds \(held) added pages instead of \(wanted)" : "") (a resize "
            + "that was not committed)"
        if mountSize != size {
            guard mode == .normal else {
                report.doubts.append("\(found): left as it is while the region is in doubt")
                return report
            }
            do throws(BackendError) {
                try checkEmpty(region, mountPoint: mountPoint, operation: operation)
            } catch {
                report.doubts.append("\(found); it cannot be mounted again at the state's size: \(error.message)")
                return report
            }
        }
        let missing = max(0, wanted - held)
        if missing > 0 {
            do throws(BackendError) {
                _ = try pages.reserve(missing, node: node, pageSize: region.pageSize)
            } catch {
                report.doubts.append("\(found); the pages it gave back cannot be taken again: \(error.message)")
                return report
            }
        }
        if mountSize != size {
            var current = region
            current.size = ByteCount(mountSize)
            do throws(BackendError) {
                try swapMount(
                    from: HugetlbMount(
                        mountPoint: mountPoint, regionID: region.id, pageSize: region.pageSize, size: current.size),
                    to: HugetlbMount(
                        mountPoint: mountPoint, regionID: region.id, pageSize: region.pageSize, size: region.size),
                    config: current, resized: region, operation: operation)
            } catch {
                if missing > 0 { _ = try? pages.release(missing, node: node, pageSize: region.pageSize) }
                report.doubts.append("\(found); mounting it again at the state's size failed: \(error.message)")
                return report
            }
        }
        if var put = record, put.pagesAdded != wanted {
            put.pagesAdded = wanted
            try put.save(recordPath)
            record = put
        }
        HugetlbResizeIntent.remove(intentPath)
        let extra = max(0, held - wanted)
        var gaveBack = ""
        if extra > 0 {
            do throws(BackendError) {
                try giveBack(extra, node: node, pageSize: region.pageSize)
                gaveBack = ", gave back the \(extra) page(s) it had added"
            } catch {
                gaveBack = ", and could not give back the \(extra) page(s) it had added (\(error.message))"
            }
        }
        let note =
            "\(found): brought it back to the state"
            + (mountSize != size ? ": mounted it again at \(size) bytes" : "")
            + (missing > 0 ? ", took back the \(missing) page(s) it had given back" : "") + gaveBack
        report.notes.append(note)
        logger.notice("undid a resize that was not committed", metadata: ["path": "\(mountPoint)", "note": "\(note)"])
        return report
    }
}
