// Linux only.

extension Ledger {
    /// What reading a whole ledger file found (`Contents`), and where writing goes on from.
    struct Replay {
        /// What `open` reports.
        var contents: Contents
        /// The ledger's identity: the header's, else the first readable record's; nil when neither is readable.
        var identity: Format.Identity?
        /// Whether block 0 must be written again (it is unreadable or disagrees with the records).
        var headerNeedsRewrite: Bool
        /// The sequence of the checkpoint the file starts with (0: the ledger started empty).
        var base: UInt64
        /// The sequence the next record gets.
        var nextSequence: UInt64
        /// Where the next append writes: the end of the last record kept. Anything after it is a torn tail, cut
        /// off before the next append.
        var end: Int
        /// The length of the file as read.
        var fileSize: Int
        /// Whether every byte after `end` is zero: space written ahead for appends, not a torn tail.
        var zeroTail: Bool
        /// The second copy of the last record, to write again before the next append: the append that wrote the
        /// record was cut while writing that copy (what is there is the start of the copy, then zeros).
        var rewrite: (offset: Int, bytes: [UInt8])?
        /// Change records in the file after its checkpoint.
        var changes: Int
        /// Whether the file is not a ledger at all: no readable header, no readable record, and its first bytes
        /// neither zero nor close to the header magic.
        var isForeign: Bool

        /// One record copy whose header passed its checks.
        private struct Copy {
            var offset: Int
            var header: Format.RecordHeader
            var payloadValid: Bool

            var sequence: UInt64 { header.sequence }
            /// Where the record's two copies start and end, from this copy's position and number.
            var recordStart: Int { header.copy == 1 ? offset : offset - header.extent }
            var recordEnd: Int { recordStart + 2 * header.extent }
            /// Where the record's other copy starts.
            var otherOffset: Int { header.copy == 1 ? offset + header.extent : offset - header.extent }
        }

        /// Reads `bytes`, the whole file.
        init(_ bytes: [UInt8]) {
            let blockSize = Format.blockSize
            let fileSize = bytes.count
            let fileHeader = Format.decodeFileHeader(bytes)

            // Walk the block boundaries: a good header's copy is read and skipped whole, anything else one block.
            var parsed: [Copy] = []
            var position = blockSize
            while position < fileSize {
                guard let header = Format.decodeRecordHeader(bytes, at: position),
                    header.extent <= fileSize - position
                else {
                    position += blockSize
                    continue
                }
                let payload =
                    position + Format.recordHeaderSize..<position + Format.recordHeaderSize
                    + header.payloadLength
                let valid = Checksum.crc32c(bytes, in: payload) == header.payloadChecksum
                parsed.append(Copy(offset: position, header: header, payloadValid: valid))
                position += header.extent
            }

            let identity = fileHeader?.identity ?? parsed.first?.header.identity
            self.identity = identity
            self.fileSize = fileSize
            isForeign = fileHeader == nil && parsed.isEmpty && !Self.looksLikeLedgerStart(bytes)

            // The first good copy of each sequence whose two copies lie wholly inside the file.
            var best: [UInt64: Copy] = [:]
            var goodOffsets: [UInt64: Set<Int>] = [:]
            for copy in parsed where copy.payloadValid && copy.header.identity == identity {
                guard copy.recordStart >= blockSize, copy.recordEnd <= fileSize else { continue }
                goodOffsets[copy.sequence, default: []].insert(copy.offset)
                if best[copy.sequence] == nil {
                    best[copy.sequence] = copy
                }
            }

            // The base: the newest checkpoint, else what the header or the records say.
            let checkpoints = best.values.filter { $0.header.kind == .checkpoint && $0.header.base == $0.sequence }
            let base: UInt64
            if let newest = checkpoints.max(by: { $0.sequence < $1.sequence }) {
                base = newest.sequence
            } else if let fileHeader {
                base = fileHeader.base
            } else if let first = best.values.min(by: { $0.offset < $1.offset }) {
                base = first.header.base
            } else {
                base = 0
            }
            self.base = base
            var changesBySequence: [UInt64: Copy] = [:]
            for (sequence, copy) in best
            where copy.header.kind == .change && copy.header.base == base && sequence > base {
                changesBySequence[sequence] = copy
            }

            // The run of consecutive sequences from the checkpoint (or from the empty state when the base is 0).
            var chain: [Copy] = []
            var checkpointLost = false
            if base > 0 {
                if let checkpoint = best[base], checkpoint.header.kind == .checkpoint {
                    chain.append(checkpoint)
                } else {
                    checkpointLost = true
                }
            }
            var next = base + 1
            if !checkpointLost {
                while let change = changesBySequence[next] {
                    chain.append(change)
                    next += 1
                }
            }
            let later = changesBySequence.values.filter { $0.sequence >= next }.sorted { $0.sequence < $1.sequence }

            var lost: [Damage] = []
            var dropped = false
            var end: Int
            if later.isEmpty && !checkpointLost {
                // The end of the file. A write whose records are not all there never returned: drop all of it.
                if let last = chain.last, last.header.kind == .change, last.header.groupLast >= next {
                    let first = last.header.groupFirst
                    chain.removeAll { $0.header.kind == .change && $0.sequence >= first }
                    dropped = true
                }
                end = chain.last?.recordEnd ?? blockSize
                nextSequence = (chain.last?.sequence ?? base) + 1
            } else {
                lost = Self.losses(
                    chain: chain, later: later, changes: changesBySequence, base: base, checkpointLost: checkpointLost)
                let kept = chain + later
                end = kept.map(\.recordEnd).max() ?? blockSize
                nextSequence = (kept.map(\.sequence).max() ?? base) + 1
            }
            end = max(end, blockSize)
            self.end = end
            let zeroTail = end >= fileSize || bytes[end...].allSatisfy { $0 == 0 }
            self.zeroTail = zeroTail
            // An append cut in its last record's second copy, inside space written ahead: the record is whole in its
            // first copy (kept, as the write may have been acknowledged), and the second copy is the start of
            // what was being written, then zeros. That is a torn write, mended before the next append, not damage.
            var tornCopy: UInt64?
            rewrite = nil
            if later.isEmpty, !checkpointLost, zeroTail, let last = chain.last, last.header.copy == 1,
                !(goodOffsets[last.sequence] ?? []).contains(last.otherOffset)
            {
                let payload = Array(
                    bytes[
                        last.offset + Format.recordHeaderSize..<last.offset + Format.recordHeaderSize
                            + last.header.payloadLength])
                let intended = Array(Format.encodeRecord(last.header, payload: payload)[last.header.extent...])
                let found = bytes[last.otherOffset..<min(fileSize, last.otherOffset + intended.count)]
                let written = zip(found, intended).prefix { $0.0 == $0.1 }.count
                if found.dropFirst(written).allSatisfy({ $0 == 0 }) {
                    tornCopy = last.sequence
                    rewrite = (last.otherOffset, intended)
                }
            }
            changes = Int(nextSequence - 1 - base)

            var repaired: [Damage] = []
            if fileHeader == nil && best.isEmpty {
                // A ledger file always starts with a header: what it held cannot be told.
                lost.append(
                    Damage(
                        offset: 0, sequence: nil,
                        "neither the file header nor any record is readable: whatever the ledger held is lost; "
                            + "the header is rewritten before the next append"))
            } else if fileHeader == nil {
                repaired.append(
                    Damage(
                        offset: 0, sequence: nil,
                        "the file header is unreadable; it is rewritten before the next append"))
            } else if fileHeader?.base != base {
                repaired.append(
                    Damage(
                        offset: 0, sequence: nil,
                        "the file header names base \(fileHeader?.base ?? 0) but the records start at \(base); "
                            + "it is rewritten before the next append"))
            }
            headerNeedsRewrite = fileHeader == nil || fileHeader?.base != base
            for copy in chain
            where copy.sequence != tornCopy && !(goodOffsets[copy.sequence] ?? []).contains(copy.otherOffset) {
                let other = 3 - copy.header.copy
                repaired.append(
                    Damage(
                        offset: copy.otherOffset, sequence: copy.sequence,
                        "record \(copy.sequence) (\(copy.header.kind)): copy \(other) is unreadable; copy "
                            + "\(copy.header.copy) at offset \(copy.offset) served"))
            }

            contents = Contents(
                records: chain.map { copy in
                    let payload =
                        copy.offset + Format.recordHeaderSize..<copy.offset + Format.recordHeaderSize
                        + copy.header.payloadLength
                    return Record(sequence: copy.sequence, kind: copy.header.kind, payload: Array(bytes[payload]))
                },
                repaired: repaired,
                lost: lost,
                tornTail: dropped || !zeroTail || tornCopy != nil
            )
        }

        /// The damage that cost records: an unreadable checkpoint, or each run of missing sequences before the
        /// last readable record.
        private static func losses(
            chain: [Copy], later: [Copy], changes: [UInt64: Copy], base: UInt64, checkpointLost: Bool
        ) -> [Damage] {
            let blockSize = Format.blockSize
            if checkpointLost {
                return [
                    Damage(
                        offset: blockSize, sequence: base,
                        "checkpoint \(base): neither copy is readable, so the \(later.count) change records after it "
                            + "cannot be replayed")
                ]
            }
            guard let last = later.last else { return [] }
            var lost: [Damage] = []
            var sequence = (chain.last?.sequence ?? base) + 1
            var previousEnd = chain.last?.recordEnd ?? blockSize
            while sequence < last.sequence {
                if let found = changes[sequence] {
                    previousEnd = found.recordEnd
                    sequence += 1
                    continue
                }
                let first = sequence
                while sequence < last.sequence && changes[sequence] == nil {
                    sequence += 1
                }
                let missing = first == sequence - 1 ? "record \(first)" : "records \(first)...\(sequence - 1)"
                let stranded = later.filter { $0.sequence > first }.count
                lost.append(
                    Damage(
                        offset: previousEnd, sequence: first,
                        lost.isEmpty
                            ? "\(missing): neither copy is readable, so the \(stranded) later records up to "
                                + "\(last.sequence) are not replayed"
                            : "\(missing): neither copy is readable"))
            }
            return lost
        }

        /// Whether a file with no readable header and no readable record may still be a damaged or empty ledger:
        /// it is all zeros, or its first eight bytes differ from the header magic in at most eight bits.
        private static func looksLikeLedgerStart(_ bytes: [UInt8]) -> Bool {
            if bytes.allSatisfy({ $0 == 0 }) {
                return true
            }
            guard bytes.count >= 8 else { return false }
            let differing = zip(bytes.prefix(8), Format.fileMagic).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
            return differing <= 8
        }
    }
}
