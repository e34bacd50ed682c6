// Linux only.
import DaxPoolSystem
import Synchronization
import SystemPackage

/// The daemon's journal: an append-only file of checksummed records, each written twice, made durable with one
/// `fdatasync(2)` per group of concurrent appends. The pool state store keeps its changes here (the truth) and
/// writes the label areas after it.
///
/// A ledger file starts with one checkpoint (the whole state, written by `compact(checkpoint:)`) or, for a ledger
/// created empty, with nothing; every `append` adds one change record with the next sequence. `open` reads the
/// file back: the newest readable checkpoint and every change after it, what damage it survived, what it lost,
/// and whether the end was torn by a crash. The byte format is in `Ledger+Format.swift`.
///
/// After an append or compaction fails part way, the ledger refuses further writes (`LedgerError.unusable`):
/// open it again, which reads what reached the file and cuts off a torn end before the next append. After
/// `open` reports losses, keep a copy of the file before appending or compacting if it is to be examined.
public final class Ledger: Sendable {
    /// What a record holds.
    public enum Kind: UInt16, Sendable, CustomStringConvertible {
        /// The whole state at one point: replay starts here.
        case checkpoint = 1
        /// One change after the checkpoint.
        case change = 2

        /// `checkpoint` or `change`.
        public var description: String {
            switch self {
            case .checkpoint: "checkpoint"
            case .change: "change"
            }
        }
    }

    /// One record: its sequence, its kind and the caller's bytes.
    public struct Record: Sendable, Hashable {
        /// The record's position in the ledger; consecutive records have consecutive sequences.
        public var sequence: UInt64
        /// Whether the record is a checkpoint or a change.
        public var kind: Kind
        /// The bytes the caller appended (opaque to the ledger).
        public var payload: [UInt8]

        /// A record with every field given.
        public init(sequence: UInt64, kind: Kind, payload: [UInt8]) {
            self.sequence = sequence
            self.kind = kind
            self.payload = payload
        }
    }

    /// Damage `open` found in the file.
    public struct Damage: Sendable, Hashable, CustomStringConvertible {
        /// Where in the file (the start of the unreadable copy or header, or where a missing record would be).
        public var offset: Int
        /// The record concerned; nil for the file header.
        public var sequence: UInt64?
        /// What was found and what it cost.
        public var description: String

        init(offset: Int, sequence: UInt64?, _ description: String) {
            self.offset = offset
            self.sequence = sequence
            self.description = description
        }
    }

    /// What `open` found.
    public struct Contents: Sendable {
        /// The newest readable checkpoint and every change after it, ascending sequence, no gaps. Empty for a new
        /// ledger. When the first record is a change, the ledger was created empty and never compacted: replay
        /// starts from the empty state.
        public var records: [Record]
        /// Damage that cost nothing: one copy of a record was unreadable and the other copy served; a damaged file
        /// header.
        public var repaired: [Damage]
        /// Damage that lost information: a record whose two copies are both unreadable while later records exist
        /// (a gap in sequence numbers), a checkpoint that cannot be read (then `records` is empty). Empty when
        /// nothing was lost.
        public var lost: [Damage]
        /// Whether the end held an incomplete write (a crash during an append whose `fdatasync` never returned):
        /// normal, not damage. It is cut off before the next append.
        public var tornTail: Bool
    }

    /// The largest payload a record carries: 1 GiB.
    public static let payloadLimit = 1 << 30

    /// Zeros an append writes ahead of its records when the file has no room left: later appends overwrite them,
    /// so their `fdatasync` does not have to commit a new file length (about half the cost of an append on ext4).
    /// Replay reads zeros after the last record as free space, not as a torn tail.
    public static let preallocation = 64 << 10

    /// The ledger file.
    public let path: String
    /// Sees every write before it reaches a file (tests: simulated crashes).
    let interposer: (any FileLabelStorage.WriteInterposer)?
    /// Sequences, queued records and figures: held only briefly.
    private let queue: Mutex<Queue>
    /// The file: held by the one caller that writes (the leader of a group commit) for its write and sync.
    private let writer: Mutex<Writer>

    /// Records waiting for a leader to write them, and what is durable.
    private struct Queue {
        /// Payloads waiting to be written, in sequence order; the first has sequence `durableThrough + 1` unless
        /// a leader is writing the ones before.
        var pending: [[UInt8]] = []
        /// The sequence of the first pending payload.
        var pendingFirst: UInt64
        /// The sequence the next queued record gets.
        var next: UInt64
        /// Every record up to this sequence is durable.
        var durableThrough: UInt64
        /// The first failure of a write; after it, nothing more is written.
        var failure: LedgerError?
        var size: Int
        var changes: Int
        var synchronizations = 0
    }

    /// What only the writing caller touches.
    private struct Writer: ~Copyable {
        var file: OwnedDescriptor
        var identity: Format.Identity
        var base: UInt64
        /// Where the next record goes.
        var end: Int
        /// The file's length: `end` plus zeros written ahead (`preallocation`), so that an append overwrites
        /// blocks the file already has and its `fdatasync` flushes data only, not a new length.
        var allocated: Int
        /// The file's length when it differs from `end` (a torn tail to cut, a short header to extend).
        var pendingResize: Int?
        /// The second copy of the last record, torn by a crash: written again before the next append.
        var pendingRewrite: (offset: Int, bytes: [UInt8])?
        var headerNeedsRewrite: Bool
    }

    private init(
        path: String, interposer: (any FileLabelStorage.WriteInterposer)?, file: consuming OwnedDescriptor,
        replay: Replay
    ) {
        self.path = path
        self.interposer = interposer
        let next = replay.nextSequence
        queue = Mutex(
            Queue(
                pendingFirst: next, next: next, durableThrough: next - 1, size: replay.end,
                changes: replay.changes))
        writer = Mutex(
            Writer(
                file: file, identity: replay.identity ?? .random(), base: replay.base, end: replay.end,
                allocated: replay.fileSize,
                pendingResize: replay.fileSize == replay.end || replay.zeroTail ? nil : replay.fileSize,
                pendingRewrite: replay.rewrite,
                headerNeedsRewrite: replay.headerNeedsRewrite || replay.identity == nil))
    }

    /// Opens the ledger at `path`, creating it (mode 0600, in an existing directory) when `create` is true and
    /// it is missing, and reads it.
    ///
    /// Opening never writes to an existing file; a torn tail or a damaged header is mended before the next
    /// append.
    /// - Throws: `LedgerError.missing` when there is no file and `create` is false; `.notAFile`, `.notALedger`
    ///   for something else at `path`; `.io` naming the call that failed.
    public static func open(path: String, create: Bool) throws(LedgerError) -> (Ledger, Contents) {
        try open(path: path, create: create, interposer: nil)
    }

    /// `open(path:create:)` with a write interposer (tests).
    static func open(
        path: String, create: Bool, interposer: (any FileLabelStorage.WriteInterposer)?
    ) throws(LedgerError) -> (Ledger, Contents) {
        let filePath = FilePath(path)
        let file: OwnedDescriptor
        do throws(Errno) {
            file = try OwnedDescriptor.open(filePath, .readWrite, options: .noFollow)
        } catch .noSuchFileOrDirectory {
            guard create else { throw .missing(path: path) }
            let header = Format.encode(Format.FileHeader(identity: .random(), base: 0))
            file = try Files.replace(path: path, with: header, interposer: interposer)
        } catch .tooManySymbolicLinkLevels, .isDirectory {
            throw .notAFile(path: path)
        } catch {
            throw .io(FileError("open", filePath, error))
        }
        let isRegularFile: Bool
        do throws(Errno) {
            isRegularFile = try file.status().isRegularFile
        } catch {
            throw .io(FileError("fstat", filePath, error))
        }
        guard isRegularFile else { throw .notAFile(path: path) }
        let bytes: [UInt8]
        do throws(Errno) {
            bytes = try file.readToEnd()
        } catch {
            throw .io(FileError("pread", filePath, error))
        }
        let replay = Replay(bytes)
        if replay.isForeign {
            throw .notALedger(path: path)
        }
        return (Ledger(path: path, interposer: interposer, file: file, replay: replay), replay.contents)
    }

    /// Appends one change record durably (written and `fdatasync`'d when this returns) and returns its sequence.
    ///
    /// Thread-safe: concurrent callers share one write and one `fdatasync` (group commit: the first caller leads,
    /// writes every record queued meanwhile in one `pwrite` and syncs once; the others wait for that sync and
    /// return).
    public func append(_ payload: [UInt8]) throws(LedgerError) -> UInt64 {
        try append(contentsOf: [payload]).lowerBound
    }

    /// Appends change records with consecutive sequences, written in the same `pwrite` and made durable by the
    /// same `fdatasync`: after a crash either all of them are read back or none (unless later damage takes some).
    /// - Returns: their sequences (empty for no payloads).
    public func append(contentsOf payloads: [[UInt8]]) throws(LedgerError) -> Range<UInt64> {
        if let large = payloads.first(where: { $0.count > Self.payloadLimit }) {
            throw .payloadTooLarge(size: large.count, limit: Self.payloadLimit)
        }
        let queued = queue.withLock { queue -> Result<Range<UInt64>, LedgerError> in
            if let failure = queue.failure {
                return .failure(.unusable(path: path, cause: failure.description))
            }
            let first = queue.next
            queue.next += UInt64(payloads.count)
            queue.pending += payloads
            return .success(first..<queue.next)
        }
        let sequences = try queued.get()
        guard let last = sequences.last else { return sequences }
        try writer.withLock { (writer: inout Writer) throws(LedgerError) in
            let taken = queue.withLock { queue -> Result<(UInt64, [[UInt8]])?, LedgerError> in
                if queue.durableThrough >= last { return .success(nil) }
                if let failure = queue.failure {
                    return .failure(.unusable(path: path, cause: failure.description))
                }
                defer {
                    queue.pendingFirst += UInt64(queue.pending.count)
                    queue.pending = []
                }
                return .success((queue.pendingFirst, queue.pending))
            }
            // Someone else's write carried these records.
            guard let (first, batch) = try taken.get() else { return }
            try guarded { () throws(LedgerError) in try write(first: first, batch, to: &writer) }
        }
        return sequences
    }

    /// Starts a new file holding only a checkpoint record (sequence = next sequence) with `payload`: written to
    /// `<path>.tmp`, `fdatasync`'d, renamed over `path`, directory `fsync`'d. Later appends go to the new file.
    ///
    /// Records queued by concurrent appends before this call are written to the old file first.
    public func compact(checkpoint payload: [UInt8]) throws(LedgerError) {
        guard payload.count <= Self.payloadLimit else {
            throw .payloadTooLarge(size: payload.count, limit: Self.payloadLimit)
        }
        try writer.withLock { (writer: inout Writer) throws(LedgerError) in
            let taken = queue.withLock { queue -> Result<(UInt64, [[UInt8]], UInt64), LedgerError> in
                if let failure = queue.failure {
                    return .failure(.unusable(path: path, cause: failure.description))
                }
                defer {
                    queue.next += 1
                    queue.pendingFirst = queue.next
                    queue.pending = []
                }
                return .success((queue.pendingFirst, queue.pending, queue.next))
            }
            let (first, batch, sequence) = try taken.get()
            try guarded { () throws(LedgerError) in
                if !batch.isEmpty {
                    try write(first: first, batch, to: &writer)
                }
                let header = Format.RecordHeader(
                    kind: .checkpoint, copy: 1, sequence: sequence, base: sequence, groupFirst: sequence,
                    groupLast: sequence, payloadLength: payload.count,
                    payloadChecksum: Checksum.crc32c(payload, in: 0..<payload.count), identity: writer.identity)
                let bytes =
                    Format.encode(Format.FileHeader(identity: writer.identity, base: sequence))
                    + Format.encodeRecord(header, payload: payload)
                writer.file = try Files.replace(path: path, with: bytes, interposer: interposer)
                writer.base = sequence
                writer.end = bytes.count
                writer.allocated = bytes.count
                writer.pendingResize = nil
                writer.pendingRewrite = nil
                writer.headerNeedsRewrite = false
                queue.withLock { queue in
                    queue.durableThrough = sequence
                    queue.size = bytes.count
                    queue.changes = 0
                    queue.synchronizations += 1
                }
            }
        }
    }

    /// Bytes the header and the records take: where the next record goes (the file may be longer by zeros
    /// written ahead, `preallocation`).
    public var size: Int { queue.withLock { $0.size } }

    /// Change records since the last checkpoint (the store decides when to compact).
    public var changesSinceCheckpoint: Int { queue.withLock { $0.changes } }

    /// Number of `fdatasync`s done so far (tests check group commit).
    public var synchronizations: Int { queue.withLock { $0.synchronizations } }

    /// The sequence the next record gets.
    public var nextSequence: UInt64 { queue.withLock { $0.next } }

    /// Runs `body`; a failure makes the ledger refuse further writes.
    private func guarded(_ body: () throws(LedgerError) -> Void) throws(LedgerError) {
        do throws(LedgerError) {
            try body()
        } catch {
            queue.withLock { queue in
                if queue.failure == nil { queue.failure = error }
            }
            throw error
        }
    }

    /// Writes `batch` (sequences from `first`) as one group at the end of the file and synchronizes once, after
    /// mending a torn tail or damaged header first.
    private func write(first: UInt64, _ batch: [[UInt8]], to writer: inout Writer) throws(LedgerError) {
        if writer.pendingResize != nil || writer.pendingRewrite != nil || writer.headerNeedsRewrite {
            try mend(&writer)
        }
        let last = first + UInt64(batch.count) - 1
        var bytes = [UInt8](repeating: 0, count: batch.reduce(0) { $0 + 2 * Format.extent(payloadLength: $1.count) })
        var offset = 0
        for (index, payload) in batch.enumerated() {
            let header = Format.RecordHeader(
                kind: .change, copy: 1, sequence: first + UInt64(index), base: writer.base, groupFirst: first,
                groupLast: last, payloadLength: payload.count,
                payloadChecksum: Checksum.crc32c(payload, in: 0..<payload.count), identity: writer.identity)
            Format.writeRecord(header, payload: payload, into: &bytes, at: offset)
            offset += 2 * header.extent
        }
        let used = bytes.count
        if writer.end + used > writer.allocated {
            // Write zeros ahead in the same call: the next appends overwrite them.
            let allocated = (writer.end + used + Self.preallocation - 1) / Self.preallocation * Self.preallocation
            bytes += [UInt8](repeating: 0, count: allocated - writer.end - used)
            writer.allocated = allocated
        }
        try Files.write(bytes, at: writer.end, of: writer.file, path: path, interposer: interposer)
        writer.end += used
        try Files.synchronizeData(writer.file, path: path)
        let end = writer.end
        queue.withLock { queue in
            queue.durableThrough = last
            queue.size = end
            queue.changes += batch.count
            queue.synchronizations += 1
        }
    }

    /// Cuts a torn tail off (or extends a short header) and rewrites a damaged header, durably, so that no new
    /// record is ever written before stale bytes.
    private func mend(_ writer: inout Writer) throws(LedgerError) {
        if writer.pendingResize != nil {
            try Files.resize(writer.file, to: writer.end, path: path, interposer: interposer)
            writer.allocated = writer.end
        }
        if let rewrite = writer.pendingRewrite {
            try Files.write(rewrite.bytes, at: rewrite.offset, of: writer.file, path: path, interposer: interposer)
        }
        if writer.headerNeedsRewrite {
            let header = Format.encode(Format.FileHeader(identity: writer.identity, base: writer.base))
            try Files.write(header, at: 0, of: writer.file, path: path, interposer: interposer)
        }
        try Files.synchronizeData(writer.file, path: path)
        writer.pendingResize = nil
        writer.pendingRewrite = nil
        writer.headerNeedsRewrite = false
        queue.withLock { $0.synchronizations += 1 }
    }
}
