// Linux only.
import DaxPoolCore
import DaxPoolSystem
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension LedgerStateStore {
    /// Reads the journal (migrating a sidecar store first), compares each region's labels with it, repairs what one
    /// copy can repair, and marks the rest in doubt. `nil` when the directory holds no state at all.
    func readAndRepair(_ found: inout [StoreFinding]) throws(LabelStateStoreError) -> Current? {
        var state: Current
        var rewrite = false
        if try labels.fileExists(Self.ledgerFileName) {
            let opened = try openLedger(&found)
            state = opened.state
            rewrite = opened.rewrite
        } else if try labels.fileExists(LabelStateStore.sidecarFileName) {
            state = try migrate(&found)
        } else if try labels.fileExists(LabelStateStore.legacyFileName) {
            state = try migrate(&found)
        } else {
            let kept = try labelAreaFiles()
            guard !kept.isEmpty else { return nil }
            for (id, file) in kept.sorted(by: { $0.key < $1.key }) {
                found.append(
                    StoreFinding(
                        .kept, region: id,
                        "\(labels.path(file)) holds labels but the journal (\(ledgerPath)) is missing: the file and "
                            + "the memory it describes are kept untouched, and region \(id) cannot be created over it; "
                            + "run 'daxpool recover' to rebuild it"))
            }
            return Current(
                ledger: nil, snapshot: PoolSnapshot(regions: []), areas: [:], staleLabels: [], keptAreas: kept)
        }
        try compareLabels(&state, &found, rewrite: &rewrite)
        if rewrite, state.committed, let ledger = state.ledger {
            try compact(ledger, state.snapshot)
        }
        return state
    }

    /// Opens and replays the journal. A record lost in both copies, or one that does not decode or apply, puts
    /// every region in doubt (the replay stops there: what came after may depend on it).
    func openLedger(_ found: inout [StoreFinding]) throws(LabelStateStoreError) -> (state: Current, rewrite: Bool) {
        let ledger: Ledger
        let contents: Ledger.Contents
        do throws(LedgerError) {
            (ledger, contents) = try Ledger.open(path: ledgerPath, create: false, interposer: interposer)
        } catch {
            throw .ledger(path: ledgerPath, reason: "\(error)")
        }
        var lost = contents.lost.map { "journal \(ledgerPath): \($0.description)" }
        for damage in contents.repaired {
            found.append(
                StoreFinding(
                    .repaired, region: nil,
                    "journal \(ledgerPath): \(damage.description); the journal was rewritten from the good copy"))
        }
        var snapshot = PoolSnapshot(regions: [])
        var history = LabelHistory()
        var changes: [[StateChange]] = []
        var failed: (sequence: UInt64, reason: String)?
        for record in contents.records {
            do {
                switch record.kind {
                case .checkpoint:
                    snapshot = try JSONDecoder().decode(PoolSnapshot.self, from: Data(record.payload))
                    history = LabelHistory(snapshot)
                    changes = []
                case .change:
                    let decoded = try JSONDecoder().decode([StateChange].self, from: Data(record.payload))
                    history.record(decoded)
                    changes.append(decoded)
                }
            } catch {
                failed = (record.sequence, "\(error)")
                break
            }
        }
        do throws(StateChangeError) {
            snapshot = try snapshot.replaying(changes)
        } catch {
            let applied = error.record ?? 0
            snapshot = (try? snapshot.replaying(Array(changes[..<applied]))) ?? snapshot
            if failed == nil { failed = (0, error.description) }
        }
        if let failed {
            lost.append("journal \(ledgerPath): a record cannot be replayed (\(failed.reason))")
        }
        if !lost.isEmpty {
            for index in snapshot.regions.indices {
                let id = snapshot.regions[index].config.id
                snapshot.regions[index].degraded = (snapshot.regions[index].degraded ?? RegionDoubt(reasons: []))
                    .adding(lost)
                found.append(StoreFinding(.degraded, region: id, lost.joined(separator: "; ")))
            }
            if snapshot.regions.isEmpty {
                found.append(StoreFinding(.kept, region: nil, lost.joined(separator: "; ")))
            }
        }
        let rewrite = !contents.repaired.isEmpty || !lost.isEmpty
        return (
            Current(
                ledger: ledger, snapshot: snapshot, areas: [:], staleLabels: [], keptAreas: try labelAreaFiles(),
                committed: !contents.records.isEmpty || !lost.isEmpty, history: lost.isEmpty ? history : nil,
                journalLost: !lost.isEmpty),
            rewrite
        )
    }

    /// Reads a sidecar store (`regions.json` with label areas, or `state.json`) and writes it as the journal's first
    /// checkpoint; the old files are renamed to `*.migrated`.
    func migrate(_ found: inout [StoreFinding]) throws(LabelStateStoreError) -> Current {
        let snapshot = try labels.load() ?? PoolSnapshot(regions: [])
        try labels.ensureDirectory()
        let ledger = try createLedger(checkpoint: snapshot)
        if try labels.fileExists(LabelStateStore.sidecarFileName) {
            try labels.renameFile(LabelStateStore.sidecarFileName, to: LabelStateStore.sidecarFileName + ".migrated")
        }
        found.append(
            StoreFinding(
                .repaired, region: nil,
                "migrated \(labels.path(LabelStateStore.sidecarFileName)) to the journal \(ledgerPath)"))
        return Current(ledger: ledger, snapshot: snapshot, areas: [:], staleLabels: [], keptAreas: try labelAreaFiles())
    }

    /// The `region<R>.labels` files in the state directory, by region id.
    func labelAreaFiles() throws(LabelStateStoreError) -> [Int: String] {
        let names: [String]
        do throws(Errno) {
            names = try Syscall.directoryEntries(FilePath(directory))
        } catch .noSuchFileOrDirectory {
            return [:]
        } catch {
            throw .io(FileError(operation: "readdir", path: directory, errno: error))
        }
        var result: [Int: String] = [:]
        for name in names where name.hasPrefix("region") && name.hasSuffix(".labels") {
            let digits = name.dropFirst("region".count).dropLast(".labels".count)
            if let id = Int(digits), id >= 0, LabelStateStore.areaFileName(region: id) == name { result[id] = name }
        }
        return result
    }

    /// Compares each region's labels with the journal: a sound region's labels are rewritten from the journal when
    /// they are damaged, unfinished or different; a region in doubt keeps its labels, and their differences become
    /// reasons. Label areas of regions the journal does not know are kept when the journal is in doubt, removed
    /// when it is not (a crash after a destroy-region's journal record).
    func compareLabels(
        _ state: inout Current, _ found: inout [StoreFinding], rewrite: inout Bool
    ) throws(LabelStateStoreError) {
        let journalSound = !state.journalLost && state.snapshot.regions.allSatisfy { $0.degraded == nil }
        for index in state.snapshot.regions.indices {
            let region = state.snapshot.regions[index]
            let id = region.config.id
            let file = LabelStateStore.areaFileName(region: id)
            state.keptAreas[id] = nil
            let wanted = try LabelStateStore.namespaces(of: region)
            let inspection = try inspectArea(file, wanted: wanted)
            var problems = inspection.problems + Self.duplicates(in: region)
            if problems.isEmpty {
                state.areas[id] = try labels.openArea(region: id, file: file, size: areaSize)
                continue
            }
            // Labels are written after the journal, so they may be one commit behind it; labels that are ahead of
            // it, or differ in a way no crash explains, mean the journal lost something.
            if let held = inspection.namespaces, inspection.ahead {
                if !(state.history?.passed(through: held, region: id) ?? false) {
                    problems.append(
                        "the labels hold a layout newer than the journal's (the journal lost records, or was "
                            + "truncated)")
                    state.snapshot.regions[index].degraded = (region.degraded ?? RegionDoubt(reasons: []))
                        .adding(problems)
                    found.append(StoreFinding(.degraded, region: id, problems.joined(separator: "; ")))
                    rewrite = true
                    continue
                }
            }
            if region.degraded == nil && Self.duplicates(in: region).isEmpty {
                state.areas[id] = try labels.createArea(
                    region: id, file: file,
                    size: LabelStateStore.areaSize(
                        holding: wanted.reduce(0) { $0 + $1.extents.count }, atLeast: areaSize),
                    namespaces: wanted)
                found.append(
                    StoreFinding(
                        .repaired, region: id,
                        "the label area of region \(id) (\(labels.path(file))) was rewritten from the journal: "
                            + problems.joined(separator: "; ")))
            } else {
                state.snapshot.regions[index].degraded = (region.degraded ?? RegionDoubt(reasons: [])).adding(problems)
                found.append(StoreFinding(.degraded, region: id, problems.joined(separator: "; ")))
                rewrite = true
            }
        }
        let known = Set(state.snapshot.regions.map(\.config.id))
        for (id, file) in state.keptAreas.sorted(by: { $0.key < $1.key }) where !known.contains(id) {
            if journalSound {
                try labels.removeFile(file)
                state.keptAreas[id] = nil
            } else {
                found.append(
                    StoreFinding(
                        .kept, region: id,
                        "\(labels.path(file)) holds labels of region \(id), which the journal does not know: kept "
                            + "untouched; run 'daxpool recover'"))
            }
        }
    }

    /// What is wrong with a label area compared with the namespaces the journal holds, in words; empty when the
    /// area is sound and agrees.
    func inspectArea(_ file: String, wanted: [LabelledNamespace]) throws(LabelStateStoreError) -> (
        problems: [String], namespaces: [LabelledNamespace]?, ahead: Bool
    ) {
        let path = labels.path(file)
        let bytes: [UInt8]
        do throws(FileError) {
            guard let read = try AtomicFile.read(path: path) else {
                return (["the label area \(path) is missing"], nil, false)
            }
            bytes = read
        } catch {
            throw .io(error)
        }
        let area: LabelArea
        do throws(LabelError) {
            area = try LabelArea.decode(bytes)
        } catch {
            return (["the label area \(path) is unreadable (\(error))"], nil, false)
        }
        var problems: [String] = []
        let damagedBlocks = area.blocks.enumerated().filter {
            if case .failure = $0.element { return true }
            return false
        }
        for (block, _) in damagedBlocks {
            problems.append("index block \(block) of \(path) fails its checks")
        }
        if !area.rejectedSlots.isEmpty {
            problems.append(
                "\(area.rejectedSlots.count) label(s) of \(path) fail their checks (slots "
                    + "\(area.rejectedSlots.map { String($0.slot) }.joined(separator: ", ")))")
        }
        if !area.incompleteUUIDs.isEmpty || area.activeLabels.contains(where: { $0.flags.contains(.updating) }) {
            problems.append("an update of \(path) was left unfinished (labels marked UPDATING)")
        }
        let held = Dictionary(area.namespaces.map { ($0.uuid, $0) }, uniquingKeysWith: { first, _ in first })
        let journal = Dictionary(wanted.map { ($0.uuid, $0) }, uniquingKeysWith: { first, _ in first })
        let onlyLabels = area.namespaces.filter { journal[$0.uuid] == nil }
        let onlyJournal = wanted.filter { held[$0.uuid] == nil }
        let differing = wanted.filter { namespace in held[namespace.uuid].map { $0 != namespace } ?? false }
        if !onlyLabels.isEmpty {
            problems.append(
                "the labels hold device(s) the journal does not: "
                    + onlyLabels.map(Self.describe).joined(separator: ", "))
        }
        if !onlyJournal.isEmpty {
            problems.append(
                "the journal holds device(s) the labels do not: "
                    + onlyJournal.map(Self.describe).joined(separator: ", "))
        }
        if !differing.isEmpty {
            problems.append(
                "the labels and the journal disagree on the layout of "
                    + differing.map(Self.describe).joined(separator: ", "))
        }
        return (problems, area.namespaces, !onlyLabels.isEmpty || !differing.isEmpty)
    }

    /// Two devices of a region with one uuid or one name: the state cannot say which is which.
    static func duplicates(in region: RegionSnapshot) -> [String] {
        var problems: [String] = []
        var uuids: [LabelUUID: DaxPoolCore.DeviceID] = [:]
        var names: [String: DaxPoolCore.DeviceID] = [:]
        for device in region.devices {
            let record = device.record
            if let other = uuids.updateValue(record.id, forKey: record.uuid) {
                problems.append("\(other) and \(record.id) have one uuid \(record.uuid)")
            }
            if let name = record.name?.value, let other = names.updateValue(record.id, forKey: name) {
                problems.append("\(other) and \(record.id) have one name '\(name)'")
            }
        }
        return problems
    }

    /// `uuid (name, N bytes)` for messages.
    static func describe(_ namespace: LabelledNamespace) -> String {
        let size = namespace.extents.reduce(0) { $0 + $1.rawSize }
        let name = namespace.name.isEmpty ? "" : "'\(namespace.name)', "
        return "\(namespace.uuid) (\(name)\(size) bytes)"
    }
}

/// The label states (the set of namespaces each region's labels would hold) the journal passed through since its
/// checkpoint, as order-free sums of namespace hashes, kept incrementally while the journal is replayed: labels
/// written after the journal can only be in one of these states.
struct LabelHistory: Sendable {
    /// Each device's namespace hash.
    private var devices: [DaxPoolCore.DeviceID: Int] = [:]
    /// Each region's current sum.
    private var sums: [Int: Int] = [:]
    /// Each region's sums so far.
    private var seen: [Int: Set<Int>] = [:]

    init() {}

    /// The history of a checkpoint: its own state only.
    init(_ snapshot: PoolSnapshot) {
        for region in snapshot.regions {
            var sum = 0
            for device in region.devices {
                let hash = Self.hash(device)
                devices[device.record.id] = hash
                sum &+= hash
            }
            sums[region.config.id] = sum
            seen[region.config.id] = [sum]
        }
    }

    /// Applies one record's changes to the regions' sums, in order, and remembers each touched region's new sum.
    mutating func record(_ changes: [StateChange]) {
        var touched = Set<Int>()
        for change in changes {
            switch change {
            case .putDevice(let device):
                let id = device.record.id
                if let old = devices.removeValue(forKey: id) { sums[id.region, default: 0] &-= old }
                let hash = Self.hash(device)
                devices[id] = hash
                sums[id.region, default: 0] &+= hash
                touched.insert(id.region)
            case .removeDevice(let id):
                if let old = devices.removeValue(forKey: id) { sums[id.region, default: 0] &-= old }
                touched.insert(id.region)
            case .removeRegion(let id):
                for key in devices.keys where key.region == id { devices[key] = nil }
                sums[id] = nil
                touched.remove(id)
            case .putRegion(let config, _, _, _):
                if sums[config.id] == nil { sums[config.id] = 0 }
                touched.insert(config.id)
            case .appendEvents, .setEvents, .putScrub, .removeScrub:
                break
            }
        }
        for id in touched { if let sum = sums[id] { seen[id, default: []].insert(sum) } }
    }

    /// Whether region `region`'s labels holding `namespaces` is a state the journal passed through.
    func passed(through namespaces: [LabelledNamespace], region: Int) -> Bool {
        let sum = namespaces.reduce(0) { $0 &+ $1.hashValue }
        return seen[region]?.contains(sum) ?? false
    }

    /// The hash of the namespace a device's labels hold.
    static func hash(_ device: DeviceSnapshot) -> Int {
        LabelledNamespace(
            uuid: device.record.uuid, name: device.record.name?.value ?? "", alignment: device.record.align.rawValue,
            extents: device.extents.map {
                LabelledNamespace.Extent(dpa: $0.start.rawValue, rawSize: $0.length.rawValue)
            }
        ).hashValue
    }
}
