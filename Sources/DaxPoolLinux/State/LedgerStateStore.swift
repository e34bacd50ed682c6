// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Dispatch
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
///   each record written twice with its own checksums. Commits queued while another batch is being written form the
///   next batch (group commit: `enqueue` then `waitDurable` or `durable`), which appends one record, the changes
///   from the last durable state to the batch's last state, with one write and one fdatasync. The changes are worked
///   out and encoded by the writer, once per batch, not by each committer (the service actor).
/// * `region<R>.labels` — region R's label area, brought in line with the journal after its records are durable,
///   off the commit path, with the kernel's two-pass protocol: each device range is one label (uuid, name, region
///   offset as `dpa`, length, alignment). `daxpool read-labels` and `ndctl read-labels`-style tools read it. The
///   journal is the truth until the labels are written, so after a crash the labels may be behind; the next start
///   brings them forward.
///
/// At start (`load`), the two copies are compared region by region:
///
/// * a damaged copy of a journal record is replaced by the other copy (the journal is rewritten as a checkpoint);
/// * a label area that is damaged (an index block or a label fails its checksum), left mid-update (`UPDATING`
///   labels), missing, or behind the journal (it holds a state the journal passed through since its checkpoint) is
///   rewritten from the journal;
/// * labels that hold a layout the journal never had (the journal lost records, or was cut short), or a journal
///   that lost a record in both copies, put the region in doubt: it comes up degraded (`RegionDoubt`), its labels
///   are left as they are, and `daxpool recover` rebuilds it from what survives. A region's doubt is journalled, so
///   it outlives restarts until recover clears it.
///
/// Each finding is reported (`takeFindings`) so the daemon logs it and raises an event.
///
/// Migration: a state directory with `regions.json` (the label areas plus a sidecar, `LabelStateStore`) or an older
/// `state.json` is read once, written as the journal's first checkpoint, and renamed to `*.migrated`.
public final class LedgerStateStore: StateStore {
    /// The journal's file name.
    public static let ledgerFileName = "ledger"
    /// Journal records after which the label writer compacts the journal into a checkpoint.
    public static let compactAfterChanges = 1024

    /// The state directory.
    public let directory: String
    /// The size of label areas this store creates.
    public let areaSize: Int
    /// The label-area machinery (file layout, two-pass updates, migration from a sidecar).
    let labels: LabelStateStore
    let interposer: (any FileLabelStorage.WriteInterposer)?
    let findings = Mutex<[StoreFinding]>([])
    /// The queue of changes: short critical sections only (the service actor takes it on every change).
    let queue = Mutex<Queue?>(nil)
    /// The journal; held by the group leader while it writes and syncs.
    let journal = Mutex<Journal>(Journal())
    /// Who writes the queued records: one leader, the other committers wait for it (`waitDurable`).
    let writers = LeaderGate()
    /// Callers suspended in `durable(_:)` and whether the journal writer is scheduled to serve them.
    let suspended = Mutex<
        (waiting: [(ticket: UInt64, continuation: CheckedContinuation<Void, any Error>)], scheduled: Bool)
    >(
        ([], false))
    /// Writes queued records for the callers suspended in `durable(_:)`, one group after another.
    let journalWriter = DispatchQueue(label: "daxpool.journal-writer")
    /// The label areas; held by the label writer while it writes.
    let areas = Mutex<LabelAreas>(LabelAreas())
    /// Whether a label write is queued on `labelWriter`, and when the last one started.
    let labelWriteQueued = Mutex<(queued: Bool, last: ContinuousClock.Instant?)>((false, nil))
    /// Label writes closer together than this are merged: under a burst of commits the labels are written once per
    /// interval instead of once per commit, so their syncs do not compete with the journal's.
    static let labelWriteInterval = Duration.milliseconds(25)
    let labelWriter = DispatchQueue(label: "daxpool.label-writer")

    /// What the store knows between a load and the next: the queued state and what is durable.
    struct Queue: Sendable {
        /// The state after the last queued change: the base of the next change.
        var snapshot: PoolSnapshot
        /// Queued records not yet written, oldest first.
        var pending: [Pending] = []
        var nextTicket: UInt64 = 1
        /// The newest ticket whose record is durable.
        var durableTicket: UInt64 = 0
        /// The state after the last durable change.
        var durable: PoolSnapshot
        /// Why the journal stopped taking records (a failed write or sync): every later commit fails with it.
        var failure: LabelStateStoreError?
        /// Label area files of regions the journal does not know, kept untouched (state from before a lost
        /// journal): a new region never overwrites one.
        var keptAreas: [Int: String]
        /// Each region's label area, as `list -R` shows it (slot counts for the room check).
        var areaInfos: [Int: LabelStateStore.AreaInfo] = [:]
    }

    /// One queued commit: the state it leads to. The journal writer turns a batch of them into one record, the
    /// changes from the last durable state to the batch's last state.
    struct Pending: Sendable {
        var ticket: UInt64
        var snapshot: PoolSnapshot
    }

    /// The journal file and whether it holds a record yet.
    struct Journal: Sendable {
        var ledger: Ledger?
        /// Whether the journal holds any record (a journal created by a commit that was cut before its first
        /// checkpoint holds none: nothing was ever committed).
        var committed = false
    }

    /// The label areas the writer keeps in line with the durable state.
    struct LabelAreas: Sendable {
        /// The label area of every region that is not in doubt, by region id.
        var stores: [Int: LabelStore<FileLabelStorage>] = [:]
        /// Regions whose last label update failed: rewritten whole next time.
        var stale: Set<Int> = []
        /// The ticket of the state the labels hold.
        var written: UInt64 = 0
    }

    /// What `load` read and repaired.
    struct Current: Sendable {
        var ledger: Ledger?
        var snapshot: PoolSnapshot
        var areas: [Int: LabelStore<FileLabelStorage>]
        var staleLabels: Set<Int>
        var keptAreas: [Int: String]
        var committed = true
        /// Each region's label states the journal passed through since its checkpoint (`LabelHistory`), so labels
        /// that are behind are told from labels the journal never had.
        var history: LabelHistory? = nil
        /// Whether the journal lost a record (then label areas it does not know are kept).
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

    /// What the last `load` found (copies repaired, regions put in doubt, state kept), once: the findings are cleared.
    public func takeFindings() -> [StoreFinding] {
        findings.withLock { found in
            defer { found = [] }
            return found
        }
    }

    // MARK: - Load

    /// Reads the state, repairing a damaged copy from the other and marking regions in doubt (see the type).
    ///
    /// - Returns: The state, or `nil` when nothing was ever committed.
    public func load() throws(LabelStateStoreError) -> PoolSnapshot? {
        flushLabels()
        var found: [StoreFinding] = []
        let loaded = try readAndRepair(&found)
        findings.withLock { $0 = found }
        install(loaded)
        guard let loaded, loaded.ledger != nil, loaded.committed else { return nil }
        return loaded.snapshot
    }

    /// Makes `loaded` (or an empty directory's state) the store's state.
    func install(_ loaded: Current?) {
        let snapshot = loaded?.snapshot ?? PoolSnapshot(regions: [])
        var infos: [Int: LabelStateStore.AreaInfo] = [:]
        for (id, store) in loaded?.areas ?? [:] { infos[id] = LabelStateStore.AreaInfo(store) }
        journal.withLock { $0 = Journal(ledger: loaded?.ledger, committed: loaded?.committed ?? false) }
        areas.withLock {
            $0 = LabelAreas(stores: loaded?.areas ?? [:], stale: loaded?.staleLabels ?? [], written: 0)
        }
        queue.withLock {
            $0 = Queue(
                snapshot: snapshot, durable: snapshot, keptAreas: loaded?.keptAreas ?? [:], areaInfos: infos)
        }
    }

    // MARK: - Commit

    /// Appends the changes from the last state to `snapshot` to the journal (durable when this returns), and brings
    /// the label areas in line before returning.
    ///
    /// - Throws: `.areaFull` (nothing written) when a region's label area has no room; `.stateInDoubt` when the
    ///   change would overwrite a label area the journal does not know; a journal error (nothing committed).
    public func commit(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        let ticket = try enqueue(snapshot)
        try waitDurable(ticket)
        writeLabels()
    }

    /// Queues `snapshot` as the state after the last queued one, in call order, after checking that the labels can
    /// hold it; nothing is written yet. The changes are worked out and encoded by the journal writer, once per
    /// batch of commits (`writeQueued`): the caller (the service actor) only compares and checks.
    ///
    /// - Returns: The ticket `waitDurable` takes.
    /// - Throws: What `commit` throws before it writes.
    public func enqueue(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) -> UInt64 {
        if queue.withLock({ $0 == nil }) { _ = try load() }
        return try queue.withLock { queue throws(LabelStateStoreError) -> UInt64 in
            guard var state = queue else { return 0 }
            if let failure = state.failure { throw failure }
            let firstEver = state.nextTicket == 1 && state.durableTicket == 0
            guard snapshot != state.snapshot || firstEver else { return state.nextTicket - 1 }
            try refuseOverwritingKeptAreas(snapshot, state)
            try checkRoom(snapshot, state)
            state.pending.append(Pending(ticket: state.nextTicket, snapshot: snapshot))
            state.nextTicket += 1
            state.snapshot = snapshot
            queue = state
            return state.nextTicket - 1
        }
    }

    /// Waits until the record of `ticket` (and every record before it) is durable, writing them if no other caller
    /// is: the records queued meanwhile go in the same write and the same fdatasync. Then starts the label writer.
    ///
    /// - Throws: The journal's failure; the journal then takes no more records (the state on disk is the state
    ///   before the first record that failed).
    public func waitDurable(_ ticket: UInt64) throws(LabelStateStoreError) {
        // One caller leads: it writes every queued record and syncs; the others wait for it and are woken together.
        while try writers.lead(unless: { () throws(LabelStateStoreError) -> Bool in
            let (durable, failure) = queue.withLock { ($0?.durableTicket ?? .max, $0?.failure) }
            if durable >= ticket { return true }
            if let failure { throw failure }
            return false
        }) {
            defer { writers.endLeading() }
            // Nothing queued and the ticket not durable: a ticket this store never gave; nothing to wait for.
            guard try writeQueued() else { break }
        }
        scheduleLabelWrite()
    }

    /// Suspends until the record of `ticket` is durable: the journal writer writes every queued record in one write
    /// and one fdatasync and resumes every caller that write covered, so a burst of commits holds no thread each and
    /// wakes no thread per caller.
    ///
    /// - Throws: The journal's failure, as `waitDurable`.
    public func durable(_ ticket: UInt64) async throws -> Bool {
        if try isDurable(ticket) { return true }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let schedule = suspended.withLock { state -> Bool in
                state.waiting.append((ticket, continuation))
                guard !state.scheduled else { return false }
                state.scheduled = true
                return true
            }
            if schedule { journalWriter.async { [self] in serveSuspended() } }
        }
        return true
    }

    /// Whether `ticket`'s record is durable; throws the journal's failure.
    func isDurable(_ ticket: UInt64) throws(LabelStateStoreError) -> Bool {
        let (durable, failure) = queue.withLock { ($0?.durableTicket ?? .max, $0?.failure) }
        if durable >= ticket { return true }
        if let failure { throw failure }
        return false
    }

    /// The journal writer's loop: writes what is queued (or waits for another leader's write), resumes the callers it
    /// covered, and goes on while callers wait.
    func serveSuspended() {
        while true {
            let newest = suspended.withLock { $0.waiting.map(\.ticket).max() ?? 0 }
            var failure: (any Error)?
            do throws(LabelStateStoreError) {
                if try writers.lead(unless: { () throws(LabelStateStoreError) -> Bool in try isDurable(newest) }) {
                    defer { writers.endLeading() }
                    if try !writeQueued(), try !isDurable(newest) {
                        failure = LabelStateStoreError.ledger(
                            path: ledgerPath, reason: "ticket \(newest) was never queued")
                    }
                }
            } catch {
                failure = error
            }
            let durable = queue.withLock { $0?.durableTicket ?? .max }
            let ready = suspended.withLock { state -> [CheckedContinuation<Void, any Error>] in
                var ready: [CheckedContinuation<Void, any Error>] = []
                state.waiting.removeAll { waiter in
                    guard failure != nil || waiter.ticket <= durable else { return false }
                    ready.append(waiter.continuation)
                    return true
                }
                if state.waiting.isEmpty { state.scheduled = false }
                return ready
            }
            if failure == nil, !ready.isEmpty { scheduleLabelWrite() }
            for continuation in ready {
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
            }
            guard suspended.withLock({ $0.scheduled }) else { return }
        }
    }

    /// Writes every queued record to the journal in one write and one fdatasync (the group leader's work).
    /// - Returns: Whether any record was queued.
    func writeQueued() throws(LabelStateStoreError) -> Bool {
        try journal.withLock { journal throws(LabelStateStoreError) -> Bool in
            let (batch, base) = queue.withLock { queue -> ([Pending], PoolSnapshot?) in
                let batch = queue?.pending ?? []
                queue?.pending = []
                return (batch, queue?.durable)
            }
            guard let last = batch.last else { return false }
            do throws(LabelStateStoreError) {
                try write(last.snapshot, after: base, &journal)
            } catch {
                queue.withLock { $0?.failure = error }
                throw error
            }
            queue.withLock {
                $0?.durableTicket = last.ticket
                $0?.durable = last.snapshot
            }
            return true
        }
    }

    /// Appends the changes from `base` (the last durable state) to `last` (a batch's last state) to the journal as one
    /// record, in one write and one fdatasync; a journal without a record gets a checkpoint of `last` instead. A batch
    /// whose commits cancel out writes nothing.
    func write(_ last: PoolSnapshot, after base: PoolSnapshot?, _ journal: inout Journal) throws(LabelStateStoreError) {
        if journal.ledger == nil {
            try labels.ensureDirectory()
            journal.ledger = try createLedger(checkpoint: last)
        } else if let ledger = journal.ledger, !journal.committed {
            try compact(ledger, last)
        } else if let ledger = journal.ledger {
            let changes = (base ?? PoolSnapshot(regions: [])).changes(to: last)
            guard !changes.isEmpty else { return }
            let payload = try Self.encode(changes)
            do throws(LedgerError) {
                _ = try ledger.append(payload)
            } catch {
                throw .ledger(path: ledgerPath, reason: "\(error)")
            }
        }
        journal.committed = true
    }

    /// Throws `.areaFull` when `snapshot` cannot be committed because a sound region's label area has no room;
    /// writes nothing.
    public func check(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        try queue.withLock { queue throws(LabelStateStoreError) in
            guard let state = queue else { return }
            try refuseOverwritingKeptAreas(snapshot, state)
            try checkRoom(snapshot, state)
        }
    }

    /// Where a region's label area is and how full it is, for `daxpool list -R`.
    public func labelArea(region: Int) -> LabelStateStore.AreaInfo? {
        queue.withLock { $0?.areaInfos[region] }
    }

    /// The namespaces region `region`'s label area holds on disk, or `nil` when it is missing or unreadable.
    public func secondCopy(region: Int) -> [LabelledNamespace]? {
        areas.withLock { _ in
            let path = labels.path(LabelStateStore.areaFileName(region: region))
            guard let bytes = try? AtomicFile.read(path: path), let area = try? LabelArea.decode(bytes) else {
                return nil
            }
            return area.namespaces
        }
    }

    /// Copies region `region`'s label area to `region<R>.labels.before-recover` (replacing an older copy).
    public func preserveSecondCopy(region: Int) {
        areas.withLock { _ in
            let name = LabelStateStore.areaFileName(region: region)
            guard let bytes = try? AtomicFile.read(path: labels.path(name)) else { return }
            try? AtomicFile.replace(path: labels.path(name + ".before-recover"), bytes: bytes)
        }
    }

    // MARK: - Labels

    /// Queues a label write on the label writer, unless one is queued already.
    func scheduleLabelWrite() {
        let now = ContinuousClock.now
        let (start, delay) = labelWriteQueued.withLock { state -> (Bool, Duration) in
            guard !state.queued else { return (false, .zero) }
            state.queued = true
            guard let last = state.last, now - last < Self.labelWriteInterval else { return (true, .zero) }
            return (true, Self.labelWriteInterval - (now - last))
        }
        guard start else { return }
        let work: @Sendable () -> Void = { [self] in
            labelWriteQueued.withLock {
                $0.queued = false
                $0.last = ContinuousClock.now
            }
            writeLabels()
        }
        if delay == .zero {
            labelWriter.async(execute: work)
        } else {
            let (seconds, attoseconds) = delay.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            labelWriter.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: work)
        }
    }

    /// Waits for a queued label write and brings the labels in line with the durable state (tests, shutdown).
    public func flushLabels() {
        labelWriter.sync {}
        writeLabels()
    }

    /// Brings every sound region's label area in line with the durable state and removes the areas of regions that
    /// are gone. A region whose update fails is rewritten whole next time (and at start). When the labels are in
    /// line and the journal has many records since its checkpoint, compacts it.
    func writeLabels() {
        areas.withLock { areas in
            guard let (snapshot, ticket) = queue.withLock({ $0.map { ($0.durable, $0.durableTicket) } }),
                ticket > areas.written
            else { return }
            let wanted = Set(snapshot.regions.map(\.config.id))
            for region in snapshot.regions where region.degraded == nil {
                write(region, &areas)
            }
            for id in areas.stores.keys where !wanted.contains(id) {
                areas.stores[id] = nil
                try? labels.removeFile(LabelStateStore.areaFileName(region: id))
            }
            areas.written = ticket
            let infos = areas.stores.mapValues(LabelStateStore.AreaInfo.init)
            queue.withLock { $0?.areaInfos = infos }
            guard areas.stale.isEmpty else { return }
            journal.withLock { journal in
                guard let ledger = journal.ledger, ledger.changesSinceCheckpoint >= Self.compactAfterChanges,
                    queue.withLock({ $0?.durableTicket == ticket && $0?.pending.isEmpty == true })
                else { return }
                try? compact(ledger, snapshot)
            }
        }
    }

    /// Brings one region's label area in line with `region`: one atomic update, or (for a new, stale or full area)
    /// a new area written whole and renamed into place.
    func write(_ region: RegionSnapshot, _ areas: inout LabelAreas) {
        let id = region.config.id
        do throws(LabelStateStoreError) {
            let namespaces = try LabelStateStore.namespaces(of: region)
            if var store = areas.stores[id], !areas.stale.contains(id) {
                let (puts, removes) = LabelStateStore.changes(from: store.namespaces, to: namespaces)
                guard !puts.isEmpty || !removes.isEmpty else { return }
                do throws(LabelStateStoreError) {
                    try labels.update(&store, region: id, puts: puts, removes: removes)
                    areas.stores[id] = store
                    return
                } catch .areaFull {
                    // An update needs room for its new labels beside the old ones; a new area does not.
                }
            }
            let size = areas.stores[id].map { $0.storage.size }
            areas.stores[id] = nil
            areas.stores[id] = try labels.createArea(
                region: id, file: LabelStateStore.areaFileName(region: id),
                size: size
                    ?? Self.newAreaSize(holding: namespaces.reduce(0) { $0 + $1.extents.count }, atLeast: areaSize),
                namespaces: namespaces)
            areas.stale.remove(id)
        } catch {
            areas.stale.insert(id)
            areas.stores[id] = nil
        }
    }

    // MARK: - Helpers

    /// The journal record of `changes`: their JSON, written by `CompactJSONEncoder` (the commit path's encoder),
    /// or by `JSONEncoder` for what that one does not write.
    static func encode(_ changes: [StateChange]) throws(LabelStateStoreError) -> [UInt8] {
        do {
            do {
                return try CompactJSONEncoder().encode(changes)
            } catch is CompactJSONEncoder.Unsupported {
                return [UInt8](try JSONEncoder().encode(changes))
            }
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
    func refuseOverwritingKeptAreas(_ snapshot: PoolSnapshot, _ state: Queue) throws(LabelStateStoreError) {
        for region in snapshot.regions where state.areaInfos[region.config.id] == nil {
            if let file = state.keptAreas[region.config.id] {
                throw .stateInDoubt(
                    reason:
                        "\(labels.path(file)) holds labels of a region \(region.config.id) that the journal does not "
                        + "know, so region \(region.config.id) cannot be created over it: run 'daxpool recover' to "
                        + "rebuild the region from it, or move the file aside if that state is not wanted")
            }
        }
    }

    /// Throws `.areaFull` when a sound region's labels would not fit its label area. The writer updates an area with
    /// the kernel's two-pass protocol, whose second pass needs as many free slots as the first wrote, and falls back
    /// to a new area written whole when an update lacks room: so a region keeps at most half its area's slots in
    /// labels, and every state the journal accepts can be written.
    func checkRoom(_ snapshot: PoolSnapshot, _ state: Queue) throws(LabelStateStoreError) {
        let before = Dictionary(
            state.snapshot.regions.map { ($0.config.id, Self.labelCount($0)) }, uniquingKeysWith: { first, _ in first })
        for region in snapshot.regions where region.degraded == nil {
            let id = region.config.id
            guard let info = state.areaInfos[id] else { continue }
            let needed = Self.labelCount(region)
            let capacity = info.slotCount / 2
            let had = before[id] ?? 0
            guard needed > capacity, needed > had else { continue }
            throw .areaFull(
                region: id, path: info.path, needed: (needed - had) * 2, free: max(capacity - had, 0) * 2,
                slotCount: info.slotCount)
        }
    }

    /// The size of a new label area: `minimum`, doubled until half its slots hold `labels` labels.
    static func newAreaSize(holding labels: Int, atLeast minimum: Int) -> Int {
        var size = minimum
        while size < 1 << 30 {
            if let geometry = try? LabelAreaGeometry(configSize: size, version: LabelStateStore.labelVersion),
                geometry.slotCount / 2 >= labels
            {
                return size
            }
            size *= 2
        }
        return size
    }

    /// The labels a region's devices take: one per range.
    static func labelCount(_ region: RegionSnapshot) -> Int {
        region.devices.reduce(0) { $0 + $1.extents.count }
    }
}
