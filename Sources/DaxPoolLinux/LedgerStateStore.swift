// Linux only.
import DaxPoolCore
import Synchronization
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Keeps the pool state as two independent copies: the daemon's own journal (`ledger`), which is the truth, and
/// one UEFI NVDIMM label storage area per region (`region<R>.labels`) in the kernel's format.
///
/// In the state directory:
///
/// * `ledger` — `Ledger`: a checkpoint of the whole state followed by change records (`StateChange`s as JSON),
///   each record written twice with its own checksums. A commit appends one record (one write, one fdatasync;
///   concurrent commits share them).
/// * `region<R>.labels` — region R's label area, updated after the journal record is durable, with the kernel's
///   two-pass protocol: each device range is one label (uuid, name, region offset as `dpa`, length, alignment).
///   `daxpool read-labels` and `ndctl read-labels`-style tools read it. The journal is the truth until the labels
///   are written, so a crash between the two leaves labels that are behind; the next start brings them forward.
///
/// At start (`load`), the two copies are compared region by region:
///
/// * a damaged copy of a journal record is replaced by the other copy (the journal is rewritten as a checkpoint);
/// * a label area that is damaged (an index block or a label fails its checksum), left mid-update (`UPDATING`
///   labels), missing, or that disagrees with a complete journal is rewritten from the journal;
/// * when the journal itself lost a record (both copies unreadable) or cannot be replayed, every region is in
///   doubt: it comes up degraded (`RegionDoubt`), its labels are left as they are, and `daxpool recover` rebuilds
///   it from what survives. A region's doubt is journalled, so it outlives restarts until recover clears it.
///
/// Each finding is reported (`takeFindings`) so the daemon logs it and raises an event.
///
/// Migration: a state directory with `regions.json` (the label areas plus a sidecar, `LabelStateStore`) or an older
/// `state.json` is read once, written as the journal's first checkpoint, and renamed to `*.migrated`.
public final class LedgerStateStore: StateStore {
    /// The journal's file name.
    public static let ledgerFileName = "ledger"
    /// Journal records after which a commit compacts the journal into a checkpoint.
    static let compactAfterChanges = 4096

    /// The state directory.
    public let directory: String
    /// The size of label areas this store creates.
    public let areaSize: Int
    /// The label-area machinery (file layout, two-pass updates, migration from a sidecar).
    let labels: LabelStateStore
    let interposer: (any FileLabelStorage.WriteInterposer)?
    let current = Mutex<Current?>(nil)
    let findings = Mutex<[StoreFinding]>([])

    /// What is on disk as of the last load or commit.
    struct Current: Sendable {
        var ledger: Ledger?
        var snapshot: PoolSnapshot
        /// The label area of every region that is not in doubt, by region id.
        var areas: [Int: LabelStore<FileLabelStorage>]
        /// Regions whose labels could not be written after their journal record: rewritten whole at the next
        /// commit (and at start).
        var staleLabels: Set<Int>
        /// Label area files of regions the journal does not know, kept untouched (state from before a lost
        /// journal): a new region never overwrites one.
        var keptAreas: [Int: String]
        /// Whether the journal holds any record (a journal created by a commit that was cut before its first
        /// checkpoint holds none: nothing was ever committed).
        var committed = true
        /// At start: the state before the journal's last change record, whose label writes a crash may have cut.
        /// Labels that match it are behind, not damaged.
        var previous: PoolSnapshot? = nil
        /// At start: whether the journal lost a record (then label areas it does not know are kept).
        var journalLost = false
    }

    /// A store in `directory`, which the first commit creates (mode 0700) if it is missing.
    public convenience init(directory: String, areaSize: Int = FileLabelStorage.defaultSize) {
        self.init(directory: directory, areaSize: areaSize, interposer: nil)
    }

    /// A store whose writes all pass through `interposer` (tests: simulated crashes).
    init(directory: String, areaSize: Int, interposer: (any FileLabelStorage.WriteInterposer)?) {
        self.directory = directory
        self.areaSize = areaSize
        self.interposer = interposer
        self.labels = LabelStateStore(directory: directory, areaSize: areaSize, interposer: interposer)
    }

    /// The journal's path.
    var ledgerPath: String { labels.path(Self.ledgerFileName) }

    public func takeFindings() -> [StoreFinding] {
        findings.withLock { found in
            defer { found = [] }
            return found
        }
    }

    /// Reads the state, repairing a damaged copy from the other and marking regions in doubt (see the type).
    ///
    /// - Returns: The state, or `nil` when nothing was ever committed.
    public func load() throws(LabelStateStoreError) -> PoolSnapshot? {
        try current.withLock { current throws(LabelStateStoreError) -> PoolSnapshot? in
            current = nil
            var found: [StoreFinding] = []
            let loaded = try readAndRepair(&found)
            current = loaded
            findings.withLock { $0 = found }
            guard let loaded, loaded.ledger != nil, loaded.committed else { return nil }
            return loaded.snapshot
        }
    }

    /// Appends the changes from the last state to `snapshot` to the journal (durable when this returns), then
    /// brings the label areas of the regions that changed in line.
    ///
    /// - Throws: `.areaFull` (nothing written) when a region's label area has no room; `.stateInDoubt` when the
    ///   change would overwrite a label area the journal does not know; a journal error (nothing committed).
    public func commit(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        try current.withLock { current throws(LabelStateStoreError) in
            var state: Current
            if let existing = current {
                state = existing
            } else {
                var found: [StoreFinding] = []
                state =
                    try readAndRepair(&found)
                    ?? Current(
                        ledger: nil, snapshot: PoolSnapshot(regions: []), areas: [:], staleLabels: [], keptAreas: [:])
                findings.withLock { $0 += found }
            }
            let changes = state.snapshot.changes(to: snapshot)
            guard !changes.isEmpty || state.ledger == nil || !state.committed else { return }
            try refuseOverwritingKeptAreas(snapshot, state)
            try checkRoom(snapshot, state)
            if state.ledger == nil {
                try labels.ensureDirectory()
                state.ledger = try createLedger(checkpoint: snapshot)
            } else if let ledger = state.ledger, !state.committed {
                try compact(ledger, snapshot)
            } else if let ledger = state.ledger {
                try append(changes, to: ledger)
            }
            state.snapshot = snapshot
            state.committed = true
            current = state
            // The journal is the truth from here on: label writes that fail leave the labels behind, which the next
            // commit or start repairs; they never undo the commit.
            writeLabels(of: snapshot, &state)
            current = state
            // A checkpoint while labels are behind would hide that they are (the start compares them with the state
            // before the last change record only).
            if let ledger = state.ledger, state.staleLabels.isEmpty,
                ledger.changesSinceCheckpoint >= Self.compactAfterChanges
            {
                try? compact(ledger, snapshot)
            }
        }
    }

    /// Throws `.areaFull` when committing `snapshot` would find a region's label area without room; writes nothing.
    public func check(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        try current.withLock { current throws(LabelStateStoreError) in
            guard let state = current else { return }
            try refuseOverwritingKeptAreas(snapshot, state)
            try checkRoom(snapshot, state)
        }
    }

    /// Where a region's label area is and how full it is, for `daxpool list -R`.
    public func labelArea(region: Int) -> LabelStateStore.AreaInfo? {
        current.withLock { current in
            current?.areas[region].map(LabelStateStore.AreaInfo.init)
        }
    }

    /// The namespaces region `region`'s label area holds on disk, or `nil` when it is missing or unreadable.
    public func secondCopy(region: Int) -> [LabelledNamespace]? {
        let path = labels.path(LabelStateStore.areaFileName(region: region))
        guard let bytes = try? AtomicFile.read(path: path), let area = try? LabelArea.decode(bytes) else { return nil }
        return area.namespaces
    }

    /// Copies region `region`'s label area to `region<R>.labels.before-recover` (replacing an older copy).
    public func preserveSecondCopy(region: Int) {
        let name = LabelStateStore.areaFileName(region: region)
        guard let bytes = try? AtomicFile.read(path: labels.path(name)) else { return }
        try? AtomicFile.replace(path: labels.path(name + ".before-recover"), bytes: bytes)
    }

    // MARK: - Commit steps

    /// The journal record of `changes`: their JSON.
    static func encode(_ changes: [StateChange]) throws(LabelStateStoreError) -> [UInt8] {
        do {
            return [UInt8](try JSONEncoder().encode(changes))
        } catch {
            throw .unencodable(reason: "\(error)")
        }
    }

    /// A checkpoint record: the snapshot's JSON.
    static func encode(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return [UInt8](try encoder.encode(snapshot))
        } catch {
            throw .unencodable(reason: "\(error)")
        }
    }

    func append(_ changes: [StateChange], to ledger: Ledger) throws(LabelStateStoreError) {
        let payload = try Self.encode(changes)
        do throws(LedgerError) {
            _ = try ledger.append(payload)
        } catch {
            throw .ledger(path: ledgerPath, reason: "\(error)")
        }
    }

    /// Creates the journal with `snapshot` as its first checkpoint.
    func createLedger(checkpoint snapshot: PoolSnapshot) throws(LabelStateStoreError) -> Ledger {
        let ledger: Ledger
        do throws(LedgerError) {
            (ledger, _) = try Ledger.open(path: ledgerPath, create: true, interposer: interposer)
        } catch {
            throw .ledger(path: ledgerPath, reason: "\(error)")
        }
        try compact(ledger, snapshot)
        return ledger
    }

    /// Replaces the journal with one checkpoint of `snapshot`.
    func compact(_ ledger: Ledger, _ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        let payload = try Self.encode(snapshot)
        do throws(LedgerError) {
            try ledger.compact(checkpoint: payload)
        } catch {
            throw .ledger(path: ledgerPath, reason: "\(error)")
        }
    }

    /// Refuses a region that would take over a label area the journal does not know.
    func refuseOverwritingKeptAreas(_ snapshot: PoolSnapshot, _ state: Current) throws(LabelStateStoreError) {
        for region in snapshot.regions where state.areas[region.config.id] == nil {
            if let file = state.keptAreas[region.config.id] {
                throw .stateInDoubt(
                    reason:
                        "\(labels.path(file)) holds labels of a region \(region.config.id) that the journal does not "
                        + "know, so region \(region.config.id) cannot be created over it: run 'daxpool recover' to "
                        + "rebuild the region from it, or move the file aside if that state is not wanted")
            }
        }
    }

    /// Throws `.areaFull` when a sound region's label area has no room for `snapshot`'s labels.
    func checkRoom(_ snapshot: PoolSnapshot, _ state: Current) throws(LabelStateStoreError) {
        for region in snapshot.regions where region.degraded == nil {
            let id = region.config.id
            guard let store = state.areas[id], !state.staleLabels.contains(id) else { continue }
            let (puts, removes) = LabelStateStore.changes(
                from: store.namespaces, to: try LabelStateStore.namespaces(of: region))
            guard !puts.isEmpty || !removes.isEmpty else { continue }
            do throws(LabelError) {
                try store.check(puts: puts, removes: removes)
            } catch {
                if case .areaFull(let needed, let free) = error {
                    throw .areaFull(
                        region: id, path: store.storage.path, needed: needed, free: free,
                        slotCount: Int(store.area.currentIndex.slotCount))
                }
                throw .label(path: store.storage.path, error)
            }
        }
    }

    /// Brings every sound region's label area in line with `snapshot` and removes the areas of regions that are
    /// gone. A region whose update fails is marked stale and rewritten whole next time.
    func writeLabels(of snapshot: PoolSnapshot, _ state: inout Current) {
        let wanted = Set(snapshot.regions.map(\.config.id))
        for region in snapshot.regions where region.degraded == nil {
            let id = region.config.id
            do throws(LabelStateStoreError) {
                let namespaces = try LabelStateStore.namespaces(of: region)
                if var store = state.areas[id], !state.staleLabels.contains(id) {
                    let (puts, removes) = LabelStateStore.changes(from: store.namespaces, to: namespaces)
                    guard !puts.isEmpty || !removes.isEmpty else { continue }
                    try labels.update(&store, region: id, puts: puts, removes: removes)
                    state.areas[id] = store
                } else {
                    state.areas[id] = try labels.createArea(
                        region: id, file: LabelStateStore.areaFileName(region: id),
                        size: LabelStateStore.areaSize(
                            holding: namespaces.reduce(0) { $0 + $1.extents.count }, atLeast: areaSize),
                        namespaces: namespaces)
                    state.staleLabels.remove(id)
                }
            } catch {
                state.staleLabels.insert(id)
                state.areas[id] = nil
            }
        }
        for id in state.areas.keys where !wanted.contains(id) {
            state.areas[id] = nil
            try? labels.removeFile(LabelStateStore.areaFileName(region: id))
        }
    }
}
