import Foundation
import Glibc
import Testing

@testable import DaxPoolLinux

@Suite("Ledger crash safety", .timeLimit(.minutes(20)))
struct LedgerCrashTests {
    /// One operation to crash in: the ledger before it (nil: no file), the records after it, and how to run it on
    /// the ledger at a path with an interposer (opening included).
    struct Scenario {
        var name: String
        var before: [Ledger.Record]?
        var after: [Ledger.Record]
        /// Whether the template's header is damaged, so a reopen may still report it (and nothing else) repaired.
        var damagedHeader = false
        var operation: (String, CuttingInterposerFake) throws -> Void
    }

    /// Byte positions to cut a write of `count` bytes at: the first, second, middle and last bytes, around every
    /// block boundary and record header checksum, and every 97th byte.
    static func cuts(within count: Int) -> [Int] {
        var cuts: Set<Int> = [0, 1, count / 2, count - 1]
        for block in stride(from: 0, to: count, by: 4096) {
            for delta in [0, 1, 8, 75, 76, 79, 80, 81] { cuts.insert(block + delta) }
        }
        cuts.formUnion(stride(from: 0, to: count, by: 97))
        return cuts.filter { $0 >= 0 && $0 < count }.sorted()
    }

    /// Copies the ledger file (and a leftover `.tmp`) of directory `source` into `destination`, emptied first.
    static func copy(_ source: String, to destination: String) throws {
        Scratch.remove(destination)
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: "\(source)/\(name)", toPath: "\(destination)/\(name)")
        }
    }

    /// Cuts `scenario`'s write stream at every chosen byte of every write and rename, and checks that each
    /// crash reopens to the records before or after the operation, with no damage, and takes further appends.
    static func crash(_ scenario: Scenario, template: String, root: String) throws -> (trials: Int, torn: Int) {
        let trial = "\(root)/trial"
        let path = "\(trial)/ledger"
        // The writes of the operation, uncut.
        let recorder = CuttingInterposerFake()
        recorder.arm(budget: nil)
        try copy(template, to: trial)
        try scenario.operation(path, recorder)
        let writes = recorder.writes
        #expect(!writes.isEmpty, "\(scenario.name) wrote nothing")
        #expect(try Ledger.open(path: path, create: false).1.records == scenario.after, "\(scenario.name) uncut")

        var budgets: [Int] = []
        var start = 0
        for write in writes {
            budgets += cuts(within: write.count).map { start + $0 }
            start += write.count
        }
        var torn = 0
        for budget in budgets {
            let context = "\(scenario.name): cut at byte \(budget) of \(start)"
            try copy(template, to: trial)
            let interposer = CuttingInterposerFake()
            interposer.arm(budget: budget)
            #expect(throws: LedgerError.self, "\(context) did not stop the operation") {
                try scenario.operation(path, interposer)
            }
            #expect(interposer.wasCut, "\(context)")
            let ledger: Ledger
            let contents: Ledger.Contents
            do {
                (ledger, contents) = try Ledger.open(path: path, create: scenario.before == nil)
            } catch {
                Issue.record("\(context): reopening failed: \(error)")
                continue
            }
            let recovered = contents.records
            #expect(
                recovered == (scenario.before ?? []) || recovered == scenario.after,
                "\(context): recovered \(recovered.map(\.sequence))")
            #expect(contents.lost.isEmpty, "\(context): \(contents.lost)")
            let repaired = contents.repaired.filter {
                !(scenario.damagedHeader && $0.sequence == nil && $0.offset == 0)
            }
            #expect(repaired.isEmpty, "\(context): \(contents.repaired)")
            if contents.tornTail { torn += 1 }
            // The crashed ledger takes further appends and then reads back clean.
            let extra = LedgerPayload.json(budget)
            let sequence = try ledger.append(extra)
            #expect(sequence == (recovered.last?.sequence ?? 0) + 1, "\(context)")
            let (_, again) = try LedgerTests.reopenClean(path)
            #expect(
                again == recovered + [Ledger.Record(sequence: sequence, kind: .change, payload: extra)], "\(context)")
        }
        return (budgets.count, torn)
    }

    /// A template directory holding a ledger with `payloads` appended.
    static func template(_ root: String, _ payloads: [[UInt8]]) throws -> String {
        let template = "\(root)/template"
        try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: true)
        let (ledger, _) = try Ledger.open(path: "\(template)/ledger", create: true)
        for payload in payloads { _ = try ledger.append(payload) }
        return template
    }

    @Test("a crash inside an append's write recovers the records before it, and appends go on")
    func append() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let existing = [LedgerPayload.make(1), LedgerPayload.json(2), LedgerPayload.make(6)]
        let template = try Self.template(root, existing)
        let added = LedgerPayload.make(7, length: 5000)
        let scenario = Scenario(
            name: "append", before: LedgerTests.changes(existing), after: LedgerTests.changes(existing + [added])
        ) { path, interposer in
            _ = try Ledger.open(path: path, create: false, interposer: interposer).0.append(added)
        }
        let (trials, torn) = try Self.crash(scenario, template: template, root: root)
        #expect(trials > 50 && torn > 0)
    }

    @Test("a crash inside a three-record write recovers none of the three")
    func appendBatch() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let existing = [LedgerPayload.json(1), LedgerPayload.json(2)]
        let template = try Self.template(root, existing)
        let added = [LedgerPayload.json(3), LedgerPayload.make(4), LedgerPayload.json(5)]
        let scenario = Scenario(
            name: "append three", before: LedgerTests.changes(existing), after: LedgerTests.changes(existing + added)
        ) { path, interposer in
            _ = try Ledger.open(path: path, create: false, interposer: interposer).0.append(contentsOf: added)
        }
        _ = try Self.crash(scenario, template: template, root: root)
    }

    @Test("a crash at any write or the rename of a compaction recovers the ledger before it")
    func compaction() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let template = try Self.template(root, [LedgerPayload.json(1)])
        let old = try Ledger.open(path: "\(template)/ledger", create: false).0
        try old.compact(checkpoint: LedgerPayload.make(20, length: 6000))
        _ = try old.append(LedgerPayload.json(3))
        _ = try old.append(LedgerPayload.make(4))
        let before =
            [Ledger.Record(sequence: 2, kind: .checkpoint, payload: LedgerPayload.make(20, length: 6000))]
            + LedgerTests.changes([LedgerPayload.json(3), LedgerPayload.make(4)], from: 3)
        let checkpoint = LedgerPayload.make(30, length: 9000)
        let scenario = Scenario(
            name: "compact", before: before,
            after: [Ledger.Record(sequence: 5, kind: .checkpoint, payload: checkpoint)]
        ) { path, interposer in
            try Ledger.open(path: path, create: false, interposer: interposer).0.compact(checkpoint: checkpoint)
        }
        _ = try Self.crash(scenario, template: template, root: root)
    }

    @Test("a crash while creating a ledger leaves no ledger, and creating it again works")
    func creation() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let template = "\(root)/template"
        try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: true)
        let scenario = Scenario(name: "create", before: nil, after: []) { path, interposer in
            _ = try Ledger.open(path: path, create: true, interposer: interposer)
        }
        _ = try Self.crash(scenario, template: template, root: root)
    }

    @Test("a crash in the first append after a torn tail, while the tail is cut off, recovers the records before it")
    func appendAfterTornTail() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let existing = [LedgerPayload.json(1), LedgerPayload.make(2)]
        let template = try Self.template(root, existing)
        // Tear an append in the middle of its second copy.
        let interposer = CuttingInterposerFake()
        let (torn, _) = try Ledger.open(path: "\(template)/ledger", create: false, interposer: interposer)
        interposer.arm(budget: 40)  // inside the first copy's header: the record is not there
        #expect(throws: LedgerError.self) { try torn.append(LedgerPayload.make(3)) }
        #expect(try Ledger.open(path: "\(template)/ledger", create: false).1.tornTail)
        let added = LedgerPayload.make(4)
        let scenario = Scenario(
            name: "append after a torn tail", before: LedgerTests.changes(existing),
            after: LedgerTests.changes(existing + [added])
        ) { path, interposer in
            _ = try Ledger.open(path: path, create: false, interposer: interposer).0.append(added)
        }
        _ = try Self.crash(scenario, template: template, root: root)
    }

    @Test("a crash in the first append after header damage, while the header is rewritten, loses no record")
    func appendAfterHeaderDamage() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let existing = [LedgerPayload.json(1), LedgerPayload.make(5)]
        let template = try Self.template(root, existing)
        Scratch.write([UInt8](repeating: 0, count: 4096), to: "\(template)/ledger")
        let added = LedgerPayload.json(3)
        var scenario = Scenario(
            name: "append after header damage", before: LedgerTests.changes(existing),
            after: LedgerTests.changes(existing + [added])
        ) { path, interposer in
            _ = try Ledger.open(path: path, create: false, interposer: interposer).0.append(added)
        }
        scenario.damagedHeader = true
        _ = try Self.crash(scenario, template: template, root: root)
    }
}
