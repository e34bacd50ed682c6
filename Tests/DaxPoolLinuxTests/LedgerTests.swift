import Foundation
import Glibc
import Synchronization
import Testing

@testable import DaxPoolLinux

/// Payloads for the ledger tests: varied lengths (empty, one block, several blocks), bytes that depend on `seed`.
enum LedgerPayload {
    static func make(_ seed: Int, length: Int? = nil) -> [UInt8] {
        let count = length ?? [0, 1, 17, 300, 4016, 4017, 5000, 9000][seed % 8]
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func json(_ seed: Int) -> [UInt8] {
        Array("{\"change\":\(seed),\"device\":\"vm\(seed)\",\"note\":\"é ✓\"}".utf8)
    }
}

@Suite("Ledger", .timeLimit(.minutes(20)))
struct LedgerTests {
    /// The records appending `payloads` as changes from `first` makes.
    static func changes(_ payloads: [[UInt8]], from first: UInt64 = 1) -> [Ledger.Record] {
        payloads.enumerated().map {
            Ledger.Record(sequence: first + UInt64($0.offset), kind: .change, payload: $0.element)
        }
    }

    /// Opens `path` and checks that it reads back clean.
    static func reopenClean(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (
        Ledger, [Ledger.Record]
    ) {
        let (ledger, contents) = try Ledger.open(path: path, create: false)
        #expect(contents.repaired.isEmpty, "\(contents.repaired)", sourceLocation: sourceLocation)
        #expect(contents.lost.isEmpty, "\(contents.lost)", sourceLocation: sourceLocation)
        #expect(!contents.tornTail, sourceLocation: sourceLocation)
        return (ledger, contents.records)
    }

    @Test("the checksum is CRC-32C")
    func checksum() {
        #expect(Ledger.Checksum.crc32c(Array("123456789".utf8), in: 0..<9) == 0xE306_9283)
        #expect(Ledger.Checksum.crc32c([], in: 0..<0) == 0)
        let long = LedgerPayload.make(3, length: 1000)
        var bytewise: UInt32 = 0xFFFF_FFFF
        for byte in long {
            bytewise ^= UInt32(byte)
            for _ in 0..<8 { bytewise = bytewise & 1 != 0 ? (bytewise >> 1) ^ 0x82F6_3B78 : bytewise >> 1 }
        }
        #expect(Ledger.Checksum.crc32c(long, in: 0..<long.count) == ~bytewise)
    }

    @Test("a new ledger is one 4096-byte header block, mode 0600, and reads back empty")
    func create() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        let (ledger, contents) = try Ledger.open(path: path, create: true)
        #expect(contents.records.isEmpty && contents.repaired.isEmpty && contents.lost.isEmpty && !contents.tornTail)
        #expect(ledger.size == 4096 && ledger.changesSinceCheckpoint == 0 && ledger.nextSequence == 1)
        let status = try #require(Scratch.status(path))
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(status.st_size == 4096)
        #expect(!Scratch.exists(path + ".tmp"))
        let header = Scratch.read(8, from: path)
        #expect(header == Ledger.Format.fileMagic && header[0] >= 0x80)
        let (_, again) = try Self.reopenClean(path)
        #expect(again.isEmpty)
    }

    @Test("opening a missing ledger without create is an error that names the path")
    func missing() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        #expect(throws: LedgerError.missing(path: path)) { try Ledger.open(path: path, create: false) }
        #expect(LedgerError.missing(path: path).description.contains(path))
        #expect(!Scratch.exists(path))
    }

    @Test("a file that is not a ledger, a directory or a symbolic link is refused and left alone")
    func foreign() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let json = "\(root)/regions.json"
        let bytes = Array(String(repeating: "{\"regions\":[]}\n", count: 400).utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: json))
        #expect(throws: LedgerError.notALedger(path: json)) { try Ledger.open(path: json, create: true) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: json)) == Data(bytes))
        try FileManager.default.createDirectory(atPath: "\(root)/directory", withIntermediateDirectories: false)
        #expect(throws: LedgerError.notAFile(path: "\(root)/directory")) {
            try Ledger.open(path: "\(root)/directory", create: true)
        }
        _ = try Ledger.open(path: "\(root)/real", create: true)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/link", withDestinationPath: "\(root)/real")
        #expect(throws: LedgerError.notAFile(path: "\(root)/link")) {
            try Ledger.open(path: "\(root)/link", create: true)
        }
    }

    @Test("appends overwrite zeros written ahead, so the file's length changes only once per preallocation")
    func appendsOverwriteSpaceWrittenAhead() throws {
        let root = try Scratch.makeDirectory(under: NSTemporaryDirectory())
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        let (ledger, _) = try Ledger.open(path: path, create: true)
        _ = try ledger.append(LedgerPayload.json(0))
        let length = Int(Scratch.status(path)?.st_size ?? 0)
        #expect(length == Ledger.preallocation)
        var lengths: Set<Int> = []
        while ledger.size + 2 * 4096 <= length {
            _ = try ledger.append(LedgerPayload.json(1))
            lengths.insert(Int(Scratch.status(path)?.st_size ?? 0))
        }
        #expect(lengths == [length])
        _ = try ledger.append(LedgerPayload.json(2))
        #expect(Int(Scratch.status(path)?.st_size ?? 0) == 2 * Ledger.preallocation)
        // The zeros after the last record are free space: no torn tail, and the next append goes right after it.
        let (reopened, records) = try Self.reopenClean(path)
        #expect(reopened.size == ledger.size && records.count == Int(ledger.nextSequence) - 1)
        // A torn record inside that space (bytes after the last record, then zeros) is a torn tail, cut before
        // the next append: the new record follows the last whole one and reads back.
        Scratch.write([1, 2, 3], to: path, at: ledger.size + 100)
        let (torn, contents) = try Ledger.open(path: path, create: false)
        #expect(contents.tornTail && contents.lost.isEmpty && contents.records == records)
        let sequence = try torn.append([9])
        let (_, after) = try Self.reopenClean(path)
        #expect(after == records + [Ledger.Record(sequence: sequence, kind: .change, payload: [9])])
    }

    @Test("appended records read back after reopening, with their sequences")
    func roundTrip() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        let (ledger, _) = try Ledger.open(path: path, create: true)
        let payloads = (0..<20).map { $0 % 3 == 0 ? LedgerPayload.json($0) : LedgerPayload.make($0) }
        for (index, payload) in payloads.enumerated() {
            #expect(try ledger.append(payload) == UInt64(index + 1))
        }
        #expect(ledger.changesSinceCheckpoint == 20)
        #expect(ledger.synchronizations == 20)
        let length = Int(Scratch.status(path)?.st_size ?? 0)
        #expect(length >= ledger.size && length % Ledger.preallocation == 0)
        #expect(Scratch.read(length - ledger.size, from: path, at: ledger.size).allSatisfy { $0 == 0 })
        let (reopened, records) = try Self.reopenClean(path)
        #expect(records == Self.changes(payloads))
        #expect(reopened.nextSequence == 21 && reopened.changesSinceCheckpoint == 20 && reopened.size == ledger.size)
        #expect(try reopened.append([7]) == 21)
        #expect(try Self.reopenClean(path).1 == Self.changes(payloads + [[7]]))
    }

    @Test("compaction keeps a checkpoint and the changes after it, and sequences continue across reopen and compaction")
    func compaction() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        let (ledger, _) = try Ledger.open(path: path, create: true)
        for seed in 0..<3 { _ = try ledger.append(LedgerPayload.make(seed)) }
        let checkpoint = LedgerPayload.make(100, length: 12_000)
        try ledger.compact(checkpoint: checkpoint)
        #expect(ledger.changesSinceCheckpoint == 0 && ledger.nextSequence == 5)
        #expect(!Scratch.exists(path + ".tmp"))
        #expect(Scratch.status(path).map { $0.st_mode & 0o777 } == 0o600)
        #expect(try ledger.append(LedgerPayload.json(5)) == 5)
        #expect(try ledger.append(LedgerPayload.json(6)) == 6)
        #expect(ledger.changesSinceCheckpoint == 2)
        let expected =
            [Ledger.Record(sequence: 4, kind: .checkpoint, payload: checkpoint)]
            + Self.changes([LedgerPayload.json(5), LedgerPayload.json(6)], from: 5)
        let (reopened, records) = try Self.reopenClean(path)
        #expect(records == expected)
        #expect(reopened.changesSinceCheckpoint == 2 && reopened.nextSequence == 7)
        #expect(try reopened.append([1, 2, 3]) == 7)
        try reopened.compact(checkpoint: [9])
        #expect(try Self.reopenClean(path).1 == [Ledger.Record(sequence: 8, kind: .checkpoint, payload: [9])])
        let (last, _) = try Self.reopenClean(path)
        #expect(try last.append([]) == 9)
        #expect(
            try Self.reopenClean(path).1 == [
                Ledger.Record(sequence: 8, kind: .checkpoint, payload: [9]),
                Ledger.Record(sequence: 9, kind: .change, payload: []),
            ])
    }

    @Test("a batch of records is one write and one sync")
    func batch() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        let (ledger, _) = try Ledger.open(path: path, create: true)
        let payloads = (0..<5).map { LedgerPayload.make($0) }
        #expect(try ledger.append(contentsOf: payloads) == 1..<6)
        #expect(ledger.synchronizations == 1)
        #expect(try ledger.append(contentsOf: []) == 6..<6)
        #expect(ledger.synchronizations == 1)
        #expect(try Self.reopenClean(path).1 == Self.changes(payloads))
    }

    @Test("16 threads appending at once get distinct consecutive sequences and share syncs")
    func groupCommit() throws {
        // A disk-backed directory, where an fdatasync takes long enough for appends to queue behind it.
        let root = try Scratch.makeDirectory(under: FileManager.default.temporaryDirectory.path)
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        let (ledger, _) = try Ledger.open(path: path, create: true)
        let threads = 16
        let perThread = 50
        final class Collected: Sendable {
            let sequences = Mutex<[UInt64: [UInt8]]>([:])
            let failures = Mutex<[String]>([])
        }
        let collected = Collected()
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            let worker = Thread {
                for index in 0..<perThread {
                    let payload = LedgerPayload.json(thread * 1000 + index)
                    do {
                        let sequence = try ledger.append(payload)
                        collected.sequences.withLock { $0[sequence] = payload }
                    } catch {
                        collected.failures.withLock { $0.append("\(error)") }
                    }
                }
                group.leave()
            }
            worker.start()
        }
        group.wait()
        #expect(collected.failures.withLock { $0 }.isEmpty)
        let appended = collected.sequences.withLock { $0 }
        let total = threads * perThread
        #expect(appended.keys.sorted() == Array(1...UInt64(total)))
        let synchronizations = ledger.synchronizations
        #expect(synchronizations < total)
        let (_, records) = try Self.reopenClean(path)
        #expect(records.map(\.sequence) == Array(1...UInt64(total)))
        #expect(records.allSatisfy { appended[$0.sequence] == $0.payload && $0.kind == .change })
        print("ledger group commit: \(total) appends from \(threads) threads, \(synchronizations) fdatasyncs")
    }

    @Test("an append cut in its record's second copy keeps the record and reports a torn tail, mended, not damage")
    func appendCutInSecondCopy() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        _ = try Ledger.open(path: path, create: true).0.append([1])
        let pristine = Scratch.read(Ledger.preallocation, from: path)
        // Record 2's copies are at 12288 and 16384: its append is cut after the first copy and `cut` bytes of the
        // second (80: its header but not its payload).
        for cut in [0, 40, 80] {
            Scratch.write(pristine, to: path)
            let interposer = CuttingInterposerFake()
            let (ledger, _) = try Ledger.open(path: path, create: false, interposer: interposer)
            interposer.arm(budget: 4096 + cut)
            #expect(throws: LedgerError.self) { try ledger.append([2]) }
            let (reopened, contents) = try Ledger.open(path: path, create: false)
            #expect(contents.records == Self.changes([[1], [2]]), "cut \(cut)")
            #expect(contents.tornTail && contents.repaired.isEmpty && contents.lost.isEmpty, "cut \(cut)")
            _ = try reopened.append([3])
            #expect(try Self.reopenClean(path).1 == Self.changes([[1], [2], [3]]), "cut \(cut)")
        }
        // A second copy damaged some other way (not the start of the copy followed by zeros) is damage, repaired.
        Scratch.write(pristine, to: path)
        _ = try Ledger.open(path: path, create: false).0.append([2])
        Scratch.write([0xFF], to: path, at: 16384 + 80)
        let (_, damaged) = try Ledger.open(path: path, create: false)
        #expect(damaged.records == Self.changes([[1], [2]]) && !damaged.tornTail && damaged.repaired.count == 1)
    }

    @Test("after a write fails part way the ledger refuses writes until it is opened again")
    func unusableAfterFailure() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let path = "\(root)/ledger"
        _ = try Ledger.open(path: path, create: true).0.append([1])
        let interposer = CuttingInterposerFake()
        let (ledger, _) = try Ledger.open(path: path, create: false, interposer: interposer)
        interposer.arm(budget: 40)  // inside the first copy's header
        #expect(throws: LedgerError.interrupted(path: path)) { try ledger.append([2]) }
        let refusal = #expect(throws: LedgerError.self) { try ledger.append([3]) }
        if case .unusable(let named, _) = refusal {
            #expect(named == path)
        } else {
            Issue.record("expected unusable, got \(String(describing: refusal))")
        }
        #expect(throws: LedgerError.self) { try ledger.compact(checkpoint: [4]) }
        let (reopened, contents) = try Ledger.open(path: path, create: false)
        #expect(contents.records == Self.changes([[1]]) && contents.tornTail && contents.lost.isEmpty)
        #expect(try reopened.append([5]) == 2)
        #expect(try Self.reopenClean(path).1 == Self.changes([[1], [5]]))
    }
}
