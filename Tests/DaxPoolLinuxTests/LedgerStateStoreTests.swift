import DaxPoolCore
import DaxPoolSystem
import Foundation
import Glibc
import Synchronization
import Testing

@testable import DaxPoolLinux

/// The journal-backed store: two copies of every layout fact, repaired or put in doubt at start, never guessed.
@Suite("ledger state store: two copies, repair, doubt", .timeLimit(.minutes(20)))
struct LedgerStateStoreTests {
    typealias Script = LabelStateScript
    static let areaSize = 8 << 10

    /// The state after each step of the crash tests' script (devices, a discontiguous one, errors, destroys).
    static func steps() throws -> [(name: String, state: PoolSnapshot)] {
        try LabelStateStoreCrashTests.steps()
    }

    /// A directory holding the store after every step up to the one with the most devices.
    static func populated(_ root: String) throws -> (directory: String, state: PoolSnapshot) {
        let directory = "\(root)/state"
        let store = LedgerStateStore(directory: directory, areaSize: areaSize)
        #expect(try store.load() == nil)
        let states = try steps().map(\.state)
        let richest = states.indices.max { layouts(states[$0]).count < layouts(states[$1]).count } ?? 0
        for state in states[...richest] { try store.commit(state) }
        #expect(layouts(states[richest]).count >= 3)
        return (directory, states[richest])
    }

    /// The devices of every region of `snapshot`: uuid → extents.
    static func layouts(_ snapshot: PoolSnapshot) -> [LabelUUID: [Extent]] {
        Dictionary(
            snapshot.regions.flatMap(\.devices).map { ($0.record.uuid, $0.extents) },
            uniquingKeysWith: { first, _ in first })
    }

    @Test("every commit survives a restart exactly, and the labels hold the same layouts as the journal")
    func roundTrip() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let store = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
        #expect(try store.load() == nil)
        for (name, state) in try Self.steps() {
            try store.commit(state)
            let reopened = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
            #expect(try reopened.load() == state, "\(name)")
            #expect(reopened.takeFindings().isEmpty, "\(name): a clean directory has nothing to repair")
            for region in state.regions {
                let labels = try #require(reopened.secondCopy(region: region.config.id))
                #expect(labels == (try LabelStateStore.namespaces(of: region)).sorted { $0.uuid < $1.uuid }, "\(name)")
            }
        }
        #expect(Scratch.exists("\(directory)/ledger"))
        #expect(!Scratch.exists("\(directory)/regions.json"))
    }

    @Test(
        "committers on many threads at once: each waits until its own record is durable; a restart loads the last state"
    )
    func concurrentCommitters() throws {
        let root = try Scratch.makeDirectory(under: NSTemporaryDirectory())
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let (store, start) = try SharedCommitState.storeWithRegion(in: directory)
        // The model and the queue change together, as on the service's actor; the waits overlap.
        let shared = SharedCommitState(start)
        let threads = 8
        let commits = 25
        let late = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<commits {
                guard let ticket = try? shared.createDevice(in: store) else {
                    late.withLock { $0 += 1 }
                    continue
                }
                do {
                    try store.waitDurable(ticket)
                } catch {
                    late.withLock { $0 += 1 }
                }
                // Durable means written and synced when the wait returns.
                if store.queue.withLock({ $0?.durableTicket ?? 0 }) < ticket { late.withLock { $0 += 1 } }
            }
        }
        #expect(late.withLock { $0 } == 0, "a commit failed or returned before its record was written")
        store.flushLabels()
        let final = shared.model.withLock { $0.model.snapshot }
        #expect(final.regions[0].devices.count == threads * commits)
        let reopened = LedgerStateStore(directory: directory, areaSize: 1 << 20)
        #expect(try reopened.load() == final)
        #expect(reopened.takeFindings().isEmpty)
        let syncs = store.journal.withLock { $0.ledger?.synchronizations ?? 0 }
        print("ledger store: \(threads * commits) commits from \(threads) threads, \(syncs) journal syncs")
    }

    @Test(
        "commits queued together are written as one record of their combined changes, replayed exactly; a batch whose commits cancel out writes nothing"
    )
    func batchIsOneRecord() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let store = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
        #expect(try store.load() == nil)
        let states = try Self.steps().map(\.state)
        try store.commit(states[0])
        let ledger = try #require(store.journal.withLock { $0.ledger })
        let (records, syncs) = (ledger.changesSinceCheckpoint, ledger.synchronizations)

        // Three commits queued before any is written: one record, one sync, and each ticket durable with it.
        let tickets = try states[1...3].map { try store.enqueue($0) }
        try store.waitDurable(try #require(tickets.last))
        #expect(ledger.changesSinceCheckpoint == records + 1, "one record for the batch")
        #expect(ledger.synchronizations == syncs + 1, "one sync for the batch")
        #expect(tickets.allSatisfy { (try? store.isDurable($0)) == true })
        store.flushLabels()
        let reopened = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
        #expect(try reopened.load() == states[3], "the batch's last state, exactly")
        #expect(reopened.takeFindings().isEmpty)

        // A commit and its undoing queued together: nothing to write, and both tickets durable.
        let forth = try store.enqueue(states[4])
        let back = try store.enqueue(states[3])
        #expect(back > forth, "a state that differs from the queued one gets its own ticket")
        try store.waitDurable(back)
        #expect(ledger.changesSinceCheckpoint == records + 1 && ledger.synchronizations == syncs + 1)
        #expect(try store.isDurable(forth) && store.isDurable(back))
        let again = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
        #expect(try again.load() == states[3])

        // The same state queued twice is one commit: the second enqueue gives the first one's ticket.
        let first = try store.enqueue(states[5])
        #expect(try store.enqueue(states[5]) == first)
        try store.waitDurable(first)
        let last = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
        #expect(try last.load() == states[5])
        // The labels follow the batch's last state.
        store.flushLabels()
        let labels = try #require(store.secondCopy(region: 0))
        #expect(labels == (try LabelStateStore.namespaces(of: states[5].regions[0])).sorted { $0.uuid < $1.uuid })
    }

    @Test("committers suspended in durable(_:) are each resumed once their own record is written, many per write")
    func suspendedCommitters() async throws {
        let root = try Scratch.makeDirectory(under: NSTemporaryDirectory())
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let (store, start) = try SharedCommitState.storeWithRegion(in: directory)
        let shared = SharedCommitState(start)
        let tasks = 16
        let commits = 12
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<commits {
                        let ticket = try shared.createDevice(in: store)
                        #expect(try await store.durable(ticket))
                        if store.queue.withLock({ $0?.durableTicket ?? 0 }) < ticket {
                            shared.early.withLock { $0 += 1 }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(shared.early.withLock { $0 } == 0, "a committer was resumed before its record was written")
        store.flushLabels()
        let final = shared.model.withLock { $0.model.snapshot }
        #expect(final.regions[0].devices.count == tasks * commits)
        let reopened = LedgerStateStore(directory: directory, areaSize: 1 << 20)
        #expect(try reopened.load() == final)
        let syncs = store.journal.withLock { $0.ledger?.synchronizations ?? 0 }
        print("ledger store: \(tasks * commits) suspended commits from \(tasks) tasks, \(syncs) journal syncs")
    }

    @Test("a journal write that fails resumes every suspended committer with the failure; later commits fail too")
    func suspendedCommittersLearnTheFailure() async throws {
        let root = try Scratch.makeDirectory(under: NSTemporaryDirectory())
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let interposer = CuttingInterposerFake()
        interposer.arm(budget: nil)
        let store = LedgerStateStore(directory: directory, areaSize: 1 << 20, interposer: interposer)
        #expect(try store.load() == nil)
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .sim, size: .gibibytes(1), align: .page1G, pageSize: .page4K, path: "/r0"))
        try store.commit(model.snapshot)
        // The disk stops taking writes: the next journal write is cut after 0 bytes.
        interposer.arm(budget: 0)
        var generator = SystemRandomNumberGenerator()
        var tickets: [UInt64] = []
        for _ in 0..<3 {
            _ = try model.createDevice(
                region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: LabelUUID.random(using: &generator),
                owner: 0)
            tickets.append(try store.enqueue(model.snapshot))
        }
        let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
            for ticket in tickets {
                group.addTask {
                    do {
                        _ = try await store.durable(ticket)
                        return false
                    } catch {
                        return true
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == tickets.count, "a committer was told its record is durable after the journal failed")
        _ = try model.createDevice(
            region: 0, size: .mebibytes(2), align: nil, name: nil, uuid: LabelUUID.random(using: &generator), owner: 0)
        #expect(throws: LabelStateStoreError.self) { _ = try store.enqueue(model.snapshot) }
    }

    @Test("a commit whose labels would not fit the region's label area is refused with areaFull, writing nothing")
    func fullLabelArea() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let store = LedgerStateStore(directory: directory, areaSize: 4096)
        var model = PoolModel()
        try model.addRegion(Script.config(0))
        try store.commit(model.snapshot)
        let slots = try #require(store.labelArea(region: 0)?.slotCount)
        var refused: LabelStateStoreError?
        for index in 0...slots {
            var next = model
            _ = try next.createDevice(
                region: 0, size: .mebibytes(1), align: .page4K, name: nil, uuid: Script.uuid(UInt64(index + 10)))
            do {
                try store.commit(next.snapshot)
                model = next
            } catch {
                refused = error
                break
            }
        }
        guard case .areaFull = try #require(refused) else {
            Issue.record("expected areaFull, got \(String(describing: refused))")
            return
        }
        #expect(model.snapshot.regions[0].devices.count == slots / 2)
        store.flushLabels()
        #expect(store.secondCopy(region: 0)?.count == slots / 2, "every accepted state fits the labels")
        #expect(try LedgerStateStore(directory: directory, areaSize: 4096).load() == model.snapshot)
    }

    @Test("a state directory of the sidecar format is migrated on first start, losing nothing")
    func migratesTheSidecarFormat() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let directory = "\(root)/state"
        let old = LabelStateStore(directory: directory, areaSize: Self.areaSize)
        let steps = try Self.steps()
        for (_, state) in steps { try old.commit(state) }
        let expected = try #require(steps.last?.state)
        let store = LedgerStateStore(directory: directory, areaSize: Self.areaSize)
        #expect(try store.load() == expected)
        #expect(store.takeFindings().contains { $0.kind == .repaired && $0.detail.contains("migrated") })
        #expect(Scratch.exists("\(directory)/regions.json.migrated"))
        #expect(!Scratch.exists("\(directory)/regions.json"))
        #expect(try LedgerStateStore(directory: directory, areaSize: Self.areaSize).load() == expected)
    }

    @Test("every bit of the label area, flipped one at a time (sampled), is repaired from the journal exactly")
    func labelBitFlipsAreRepaired() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let (directory, state) = try Self.populated(root)
        let area = "\(directory)/region0.labels"
        let pristine = try #require(try AtomicFile.read(path: area))
        let trial = "\(root)/trial"
        var repaired = 0
        var flips = 0
        for bit in stride(from: 0, to: pristine.count * 8, by: 97) {
            try LabelStateStoreCrashTests.copy(directory, to: trial)
            var bytes = pristine
            bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            Scratch.write(bytes, to: "\(trial)/region0.labels")
            let store = LedgerStateStore(directory: trial, areaSize: Self.areaSize)
            let loaded = try store.load()
            flips += 1
            #expect(loaded == state, "bit \(bit): the state changed")
            let findings = store.takeFindings()
            #expect(
                !findings.contains { $0.kind == .degraded }, "bit \(bit): a single flipped bit put a region in doubt")
            if findings.contains(where: { $0.kind == .repaired }) { repaired += 1 }
            // After the start the labels agree with the journal again, with no label marked UPDATING.
            let reread = try #require(try AtomicFile.read(path: "\(trial)/region0.labels"))
            let decoded = try LabelArea.decode(reread)
            #expect(
                decoded.namespaces
                    == (try LabelStateStore.namespaces(of: state.regions[0])).sorted { $0.uuid < $1.uuid })
            #expect(decoded.rejectedSlots.isEmpty && decoded.incompleteUUIDs.isEmpty, "bit \(bit)")
        }
        print("label bit flips: \(flips) flipped, \(repaired) repaired (the rest hit bytes no check covers)")
        #expect(repaired > 0)
    }

    @Test("every bit of the journal, flipped one at a time (sampled), is repaired from its other copy exactly")
    func journalBitFlipsAreRepaired() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let (directory, state) = try Self.populated(root)
        let ledger = "\(directory)/ledger"
        let pristine = try #require(try AtomicFile.read(path: ledger))
        let labels = try #require(try AtomicFile.read(path: "\(directory)/region0.labels"))
        let trial = "\(root)/trial"
        var flips = 0
        for bit in stride(from: 0, to: pristine.count * 8, by: 251) {
            try LabelStateStoreCrashTests.copy(directory, to: trial)
            var bytes = pristine
            bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            Scratch.write(bytes, to: "\(trial)/ledger")
            let store = LedgerStateStore(directory: trial, areaSize: Self.areaSize)
            let loaded = try store.load()
            flips += 1
            #expect(loaded == state, "bit \(bit) of \(pristine.count * 8)")
            #expect(!store.takeFindings().contains { $0.kind == .degraded }, "bit \(bit)")
            #expect(try AtomicFile.read(path: "\(trial)/region0.labels") == labels, "bit \(bit): labels were touched")
            #expect(try LedgerStateStore(directory: trial, areaSize: Self.areaSize).load() == state)
        }
        #expect(flips > 100)
    }

    @Test(
        "each 4 KiB block of the journal zeroed, and the journal cut anywhere: a start repairs, or degrades and keeps every device"
    )
    func journalBlocksAndTruncations() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let (directory, state) = try Self.populated(root)
        let pristine = try #require(try AtomicFile.read(path: "\(directory)/ledger"))
        let labels = try #require(try AtomicFile.read(path: "\(directory)/region0.labels"))
        let trial = "\(root)/trial"
        var damaged: [[UInt8]] = []
        for block in stride(from: 0, to: pristine.count, by: 4096) {
            var bytes = pristine
            for index in block..<min(block + 4096, bytes.count) { bytes[index] = 0 }
            damaged.append(bytes)
        }
        for length in stride(from: 0, to: pristine.count, by: 512) { damaged.append(Array(pristine[..<length])) }
        var degradedStarts = 0
        for (index, bytes) in damaged.enumerated() {
            try LabelStateStoreCrashTests.copy(directory, to: trial)
            #expect(FileManager.default.createFile(atPath: "\(trial)/ledger", contents: Data(bytes)))
            let store = LedgerStateStore(directory: trial, areaSize: Self.areaSize)
            let loaded: PoolSnapshot?
            do {
                loaded = try store.load()
            } catch {
                Issue.record("damage \(index): load threw \(error)")
                continue
            }
            let findings = store.takeFindings()
            let regionsInDoubt = (loaded?.regions ?? []).contains { $0.degraded != nil }
            if (loaded?.regions ?? []).isEmpty {
                // The journal lost everything: the labels are kept untouched and reported, never overwritten.
                #expect(findings.contains { $0.kind == .kept && $0.region == 0 }, "damage \(index): \(findings)")
                #expect(
                    try AtomicFile.read(path: "\(trial)/region0.labels") == labels, "damage \(index): labels touched")
                degradedStarts += 1
                continue
            }
            if !regionsInDoubt {
                // Sound: the journal is exactly the final state, or (a cut tail) an earlier state of the script
                // that still holds every device of the final state with its layout; the labels agree with it.
                let states = try Self.steps().map(\.state)
                #expect(
                    loaded.map { states.contains($0) } ?? false,
                    "damage \(index): a state the script never had: \(String(describing: loaded)) findings \(findings)")
                let held = Self.layouts(loaded ?? PoolSnapshot(regions: []))
                #expect(
                    Self.layouts(state).allSatisfy { held[$0.key] == $0.value }, "damage \(index): a device was lost")
                continue
            }
            // Not repairable from the journal alone: every region is degraded, the labels are untouched, and the
            // rebuild from the labels finds every device with its layout.
            degradedStarts += 1
            #expect(try AtomicFile.read(path: "\(trial)/region0.labels") == labels, "damage \(index): labels touched")
            let regions = loaded?.regions ?? []
            #expect(regions.allSatisfy { $0.degraded != nil }, "damage \(index)")
            var rebuilt: [LabelUUID: [Extent]] = [:]
            for region in regions {
                let plan = RecoveryPlan(
                    journal: region, labels: store.secondCopy(region: region.config.id), held: [])
                rebuilt.merge(
                    Self.layouts(PoolSnapshot(regions: [plan.region])), uniquingKeysWith: { first, _ in first })
            }
            if !regions.isEmpty {
                #expect(
                    Self.layouts(state).allSatisfy { rebuilt[$0.key] == $0.value },
                    "damage \(index): the rebuild lost a device")
            } else {
                #expect(findings.contains { $0.kind == .kept }, "damage \(index): nothing reported")
            }
        }
        print("journal damage: \(damaged.count) cases, \(degradedStarts) came up degraded")
    }

    @Test(
        "a deleted label area is rewritten from the journal; a deleted journal keeps the labels and refuses to overwrite them"
    )
    func deletions() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let (directory, state) = try Self.populated(root)
        let labels = try #require(try AtomicFile.read(path: "\(directory)/region0.labels"))
        let trial = "\(root)/trial"

        try LabelStateStoreCrashTests.copy(directory, to: trial)
        Scratch.remove("\(trial)/region0.labels")
        let store = LedgerStateStore(directory: trial, areaSize: Self.areaSize)
        #expect(try store.load() == state)
        #expect(store.takeFindings().contains { $0.kind == .repaired && $0.region == 0 })
        #expect(
            store.secondCopy(region: 0)
                == (try LabelStateStore.namespaces(of: state.regions[0])).sorted { $0.uuid < $1.uuid })

        try LabelStateStoreCrashTests.copy(directory, to: trial)
        Scratch.remove("\(trial)/ledger")
        let orphaned = LedgerStateStore(directory: trial, areaSize: Self.areaSize)
        #expect(try orphaned.load() == nil)
        #expect(orphaned.takeFindings().contains { $0.kind == .kept && $0.region == 0 })
        // A fresh region 0 would overwrite the labels that still describe the memory: refused, nothing written.
        let fresh = PoolSnapshot(regions: [RegionSnapshot(config: state.regions[0].config, devices: [], badBlocks: [])])
        #expect(throws: LabelStateStoreError.self) { try orphaned.commit(fresh) }
        #expect(try AtomicFile.read(path: "\(trial)/region0.labels") == labels)
        #expect(!Scratch.exists("\(trial)/ledger"))
    }

    /// Where the crash tests cut `writes` (a few places within each, `LabelStateStoreCrashTests.cuts`), as byte counts
    /// from the first write's start, and how many bytes the writes hold in all.
    static func cutBudgets(_ writes: [CuttingInterposerFake.Write]) -> (budgets: [Int], total: Int) {
        var budgets: [Int] = []
        var total = 0
        for write in writes {
            budgets += LabelStateStoreCrashTests.cuts(within: write.count).map { total + $0 }
            total += write.count
        }
        return (budgets, total)
    }

    /// Copies `template` to `trial`, runs `change` on a store of `trial` whose writes stop after `budget` bytes (a crash
    /// there), and starts a store on what is left. Returns that store and the state it loaded, or `nil` (an issue
    /// recorded) when the load failed; a region that came up degraded is recorded as an issue too. `context` starts
    /// the issues' messages.
    static func reopenedAfterCut(
        _ context: String, template: String, trial: String, budget: Int, of total: Int,
        _ change: (LedgerStateStore) throws -> Void
    ) throws -> (store: LedgerStateStore, state: PoolSnapshot?)? {
        try LabelStateStoreCrashTests.copy(template, to: trial)
        let interposer = CuttingInterposerFake()
        let store = LedgerStateStore(directory: trial, areaSize: areaSize, interposer: interposer)
        _ = try store.load()
        interposer.arm(budget: budget)
        try? change(store)
        let reopened = LedgerStateStore(directory: trial, areaSize: areaSize)
        let recovered: PoolSnapshot?
        do {
            recovered = try reopened.load()
        } catch {
            Issue.record("\(context)cut at \(budget) of \(total): load failed: \(error)")
            return nil
        }
        #expect(!reopened.takeFindings().contains { $0.kind == .degraded }, "\(context)cut at \(budget) of \(total)")
        return (reopened, recovered)
    }

    @Test("a crash at every write of every commit recovers the state before or after, sound, with labels in line")
    func cutEverywhere() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let template = "\(root)/template"
        let trial = "\(root)/trial"
        try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: true)
        var before: PoolSnapshot?
        var outcomes = (before: 0, after: 0)
        for (name, after) in try Self.steps() {
            let recorder = CuttingInterposerFake()
            try LabelStateStoreCrashTests.copy(template, to: trial)
            let measuring = LedgerStateStore(directory: trial, areaSize: Self.areaSize, interposer: recorder)
            #expect(try measuring.load() == before)
            recorder.arm(budget: nil)
            try measuring.commit(after)
            let (budgets, start) = Self.cutBudgets(recorder.writes)
            for budget in budgets {
                guard
                    let (reopened, recovered) = try Self.reopenedAfterCut(
                        "\(name): ", template: template, trial: trial, budget: budget, of: start,
                        { try $0.commit(after) })
                else { continue }
                if recovered == before {
                    outcomes.before += 1
                } else if recovered == after {
                    outcomes.after += 1
                } else {
                    Issue.record("\(name): cut at \(budget) of \(start) recovered neither state")
                    continue
                }
                for region in recovered?.regions ?? [] {
                    #expect(
                        reopened.secondCopy(region: region.config.id)
                            == (try LabelStateStore.namespaces(of: region)).sorted { $0.uuid < $1.uuid },
                        "\(name): cut at \(budget): labels not brought in line")
                }
            }
            let store = LedgerStateStore(directory: template, areaSize: Self.areaSize)
            _ = try store.load()
            try store.commit(after)
            before = after
        }
        print("ledger store crash test: \(outcomes.before) recovered the state before, \(outcomes.after) after")
        #expect(outcomes.before > 0 && outcomes.after > 0)
    }

    @Test("a batch of queued commits cut at every byte of its write comes back whole or not at all, never in between")
    func batchCutEverywhere() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let template = "\(root)/template"
        let trial = "\(root)/trial"
        let states = try Self.steps().map(\.state)
        let start = LedgerStateStore(directory: template, areaSize: Self.areaSize)
        _ = try start.load()
        for state in states[...1] { try start.commit(state) }
        let before = states[1]
        let batch = Array(states[2...4])

        /// Queues the batch and waits for its last ticket (which fails once the writes are cut).
        func commitBatch(_ store: LedgerStateStore) throws {
            let tickets = try batch.map { try store.enqueue($0) }
            try store.waitDurable(try #require(tickets.last))
            store.flushLabels()
        }

        let recorder = CuttingInterposerFake()
        try LabelStateStoreCrashTests.copy(template, to: trial)
        let measuring = LedgerStateStore(directory: trial, areaSize: Self.areaSize, interposer: recorder)
        #expect(try measuring.load() == before)
        recorder.arm(budget: nil)
        try commitBatch(measuring)
        let journalWrites = recorder.writes.filter { $0.path.hasSuffix("/ledger") }
        #expect(journalWrites.count == 1, "the batch is one write to the journal: \(journalWrites)")
        let (budgets, offset) = Self.cutBudgets(recorder.writes)
        var outcomes = (before: 0, after: 0)
        for budget in budgets {
            guard
                let (_, recovered) = try Self.reopenedAfterCut(
                    "", template: template, trial: trial, budget: budget, of: offset, commitBatch)
            else { continue }
            if recovered == before {
                outcomes.before += 1
            } else if recovered == batch.last {
                outcomes.after += 1
            } else {
                Issue.record("cut at \(budget) of \(offset) recovered a state inside the batch, or none")
            }
        }
        print("ledger batch crash test: \(outcomes.before) came back before the batch, \(outcomes.after) with it")
        #expect(outcomes.before > 0 && outcomes.after > 0)
    }
}

/// The model the suspended committers change together with the store's queue, and what they saw.
final class SharedCommitState: Sendable {
    let model: Mutex<(model: PoolModel, generator: SystemRandomNumberGenerator)>
    let early = Mutex(0)

    init(_ start: PoolModel) { model = Mutex((start, SystemRandomNumberGenerator())) }

    /// A store in `directory` holding one 1 GiB sim region, and the model it holds.
    static func storeWithRegion(in directory: String) throws -> (LedgerStateStore, PoolModel) {
        let store = LedgerStateStore(directory: directory, areaSize: 1 << 20)
        #expect(try store.load() == nil)
        var start = PoolModel()
        try start.addRegion(
            RegionConfig(id: 0, backend: .sim, size: .gibibytes(1), align: .page1G, pageSize: .page4K, path: "/r0"))
        try store.commit(start.snapshot)
        return (store, start)
    }

    /// Adds a 2 MiB device to the model and queues the change in `store`, together, as the service's actor does.
    /// - Returns: The change's ticket.
    func createDevice(in store: LedgerStateStore) throws -> UInt64 {
        try model.withLock { state -> UInt64 in
            var next = state.model
            _ = try next.createDevice(
                region: 0, size: .mebibytes(2), align: nil, name: nil,
                uuid: LabelUUID.random(using: &state.generator), owner: 0)
            let ticket = try store.enqueue(next.snapshot)
            state.model = next
            return ticket
        }
    }
}
