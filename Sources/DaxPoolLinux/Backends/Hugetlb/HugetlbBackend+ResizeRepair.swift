// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

/// How many pages a region holds after a resize that may have stopped anywhere (`HugetlbBackend.pagesHeld`).
enum HugetlbHeldPages: Equatable {
    /// Exactly this many.
    case known(Int)
    /// The node's count is neither the count before the write nor the count after it: someone else changed it.
    case unknown(String)
    /// The region's record matches neither side of the intent: the intent is not about this record.
    case unrelated
}

extension HugetlbBackend {
    /// Brings a region whose mounts or reservation differ from its state back to the state: the state is the truth.
    /// A resize changed them without the new size being committed (the daemon died between the backend's resize, or
    /// in the middle of it, and the journal's commit), or some of the region's mounts are gone (unmounted by hand).
    /// The sizes of the region's mounts (`size=` of each segment in `/proc/self/mountinfo`) are compared with the
    /// state's layout (`RegionConfig.segments`, or one mount of `region.size`), and its last resize's intent
    /// (`HugetlbResizeIntent`, when its `fromSize` is the state's size and it matches the region's record) says how
    /// many pages that resize added or gave back (`pagesHeld`). A state without segments whose mounts add up to its
    /// size (written before the state kept them) keeps its mounts as they are.
    ///
    /// The pages the resize gave back are reserved again first, then the mounts are brought to the state's layout
    /// (`arrangement`: the mounts that match it from the start are kept, those after them, which must hold no
    /// device file, are unmounted, and the state's other segments mounted), then the record is put back and the
    /// pages the resize added are given back, each a note. When the mounts cannot be brought back without freeing a device's file, when the node's
    /// count does not tell whether the last write to it happened, or in `.keep` mode, nothing is touched and a doubt
    /// says what was found.
    func repairResize(
        _ region: RegionConfig, mountPoint: FilePath, node: Int, mode: ReconcileMode, operation: String
    ) throws(BackendError) -> ReconcileReport {
        var report = ReconcileReport()
        let size = region.size.rawValue
        let recordPath = HugetlbRegionRecord.path(mountPoint: mountPoint, region: region.id)
        let intentPath = HugetlbResizeIntent.path(mountPoint: mountPoint, region: region.id)
        let bootID = HugetlbRegionRecord.currentBootID()
        let found = try segments(of: region, mountPoint: mountPoint, operation: operation)
        guard !found.isEmpty else { return report }
        let mounted = found.reduce(UInt64(0)) { $0 + $1.size.rawValue }
        let layout = region.segments.isEmpty ? [region.size] : region.segments
        let arranged =
            found.map(\.size) == layout && found.map(\.index) == Array(found.indices)
            || (region.segments.isEmpty && mounted == size)
        var record = try HugetlbRegionRecord.load(recordPath)
        // The pages the region holds now (`held`) and those the state's size had (`wanted`).
        var held = record?.pagesAdded ?? 0
        var wanted = held
        var intent: HugetlbResizeIntent?
        if let saved = HugetlbResizeIntent.load(intentPath) {
            if saved.region == region.id, saved.fromSize == size, saved.toSize != size, saved.bootID == bootID,
                let current = record, current.bootID == bootID
            {
                switch try pagesHeld(after: saved, recorded: current.pagesAdded, node: node, pageSize: region.pageSize)
                {
                case .known(let pages):
                    held = pages
                    wanted = saved.pagesAddedBefore
                    intent = saved
                case .unknown(let why):
                    report.doubts.append(
                        "region \(region.id)'s resize from \(saved.fromSize) to \(saved.toSize) bytes was not "
                            + "committed, and \(why): left as it is. Count the pages the region added by hand, write "
                            + "them as pages_added in \(recordPath), remove \(intentPath) and start again")
                    return report
                case .unrelated:
                    break
                }
            }
            if intent == nil { HugetlbResizeIntent.remove(intentPath) }
        }
        guard !arranged || held != wanted else {
            if intent != nil { HugetlbResizeIntent.remove(intentPath) }
            return report
        }
        let sizes = { (parts: [ByteCount]) in parts.map { String($0.rawValue) }.joined(separator: " + ") }
        let what =
            "region \(region.id)'s hugetlbfs mounts at \(mountPoint) hold \(sizes(found.map(\.size))) bytes "
            + "while its state says \(sizes(layout))"
            + (held != wanted ? " and it holds \(held) added pages instead of \(wanted)" : "")
            + (intent != nil ? " (a resize that was not committed)" : "")
        guard mode == .normal else {
            report.doubts.append("\(what): left as it is while the region is in doubt")
            return report
        }
        var plan: HugetlbArrangement?
        if !arranged {
            do throws(BackendError) {
                plan = try arrangement(region, found: found, to: layout, operation: operation)
            } catch {
                report.doubts.append("\(what); its mounts cannot be brought to the state's: \(error.message)")
                return report
            }
        }
        let missing = max(0, wanted - held)
        if missing > 0 {
            do throws(BackendError) {
                _ = try pages.reserve(missing, node: node, pageSize: region.pageSize)
            } catch {
                report.doubts.append("\(what); the pages it gave back cannot be taken again: \(error.message)")
                return report
            }
        }
        if let plan {
            do throws(BackendError) {
                try arrange(plan, region: region, operation: operation)
            } catch {
                if missing > 0 { _ = try? pages.release(missing, node: node, pageSize: region.pageSize) }
                report.doubts.append("\(what); mounting it again as the state says failed: \(error.message)")
                return report
            }
        }
        if var put = record, put.pagesAdded != wanted {
            put.pagesAdded = wanted
            put.unoptimizedPages =
                intent.map(\.unoptimizedPagesBefore) ?? put.unoptimized(of: Int(size / region.pageSize.rawValue))
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
            "\(what): brought it back to the state"
            + (plan.map { ": \($0.description)" } ?? "")
            + (missing > 0 ? ", took back the \(missing) page(s) it had given back" : "") + gaveBack
        report.notes.append(note)
        logger.notice("undid a resize that was not committed", metadata: ["path": "\(mountPoint)", "note": "\(note)"])
        return report
    }

    /// How many pages the region holds after the resize `intent` stopped somewhere, given the pages its record
    /// says (`recorded`). A grow writes the intent (with the node's count), adds the pages, then records them; a
    /// shrink records first, then writes the node's count in the intent, gives the pages back, and marks the
    /// intent (`pagesToGiveBack` 0). Where the record alone cannot tell, the node's count now is compared with the
    /// count before the write and after it.
    func pagesHeld(after intent: HugetlbResizeIntent, recorded: Int, node: Int, pageSize: Alignment)
        throws(BackendError) -> HugetlbHeldPages
    {
        let before = intent.pagesAddedBefore
        let after = intent.pagesAddedAfter
        if after > before {
            if recorded == after { return .known(after) }
            guard recorded == before else { return .unrelated }
            guard let nodeBefore = intent.nodePagesBefore else { return .known(before) }
            let now = try pages.count(node: node, pageSize: pageSize)
            if now == nodeBefore { return .known(before) }
            if now == nodeBefore + (after - before) { return .known(after) }
            return .unknown(
                "node \(node) has \(now) pages of \(pageSize), neither the \(nodeBefore) it had before the resize "
                    + "added \(after - before) nor \(nodeBefore + after - before) (another user of the pool changed it)"
            )
        }
        if recorded == before { return .known(before) }
        guard recorded == after else { return .unrelated }
        if intent.pagesToGiveBack == 0 { return .known(after) }
        guard let nodeBefore = intent.nodePagesBefore else { return .known(before) }
        let now = try pages.count(node: node, pageSize: pageSize)
        if now == nodeBefore { return .known(before) }
        if now == nodeBefore - (before - after) { return .known(after) }
        return .unknown(
            "node \(node) has \(now) pages of \(pageSize), neither the \(nodeBefore) it had before the resize gave "
                + "back \(before - after) nor \(nodeBefore - before + after) (another user of the pool changed it)")
    }
}
