import Foundation
import Glibc
import Testing

@testable import DaxPoolLinux

@Suite("Ledger damage", .timeLimit(.minutes(20)))
struct LedgerDamageTests {
    /// A small ledger: the header, a checkpoint (sequence 2) and five changes, one of them three blocks a copy.
    struct Sample {
        var path: String
        var bytes: [UInt8]
        var records: [Ledger.Record]
        /// Where each record's copies start, by sequence: (copy 1, copy 2, extent of one copy).
        var copies: [UInt64: (first: Int, second: Int, extent: Int)]
        /// The byte ranges a checksum covers: the file header's fields, each copy's header and payload.
        var checked: [Range<Int>]

        init(in root: String) throws {
            path = "\(root)/ledger"
            let (ledger, _) = try Ledger.open(path: path, create: true)
            _ = try ledger.append(LedgerPayload.json(0))
            let checkpoint = LedgerPayload.make(11, length: 700)
            try ledger.compact(checkpoint: checkpoint)
            let payloads = [
                LedgerPayload.json(1), LedgerPayload.make(12, length: 5000), LedgerPayload.json(3),
                LedgerPayload.make(14, length: 100), LedgerPayload.json(5),
            ]
            for payload in payloads { _ = try ledger.append(payload) }
            records =
                [Ledger.Record(sequence: 2, kind: .checkpoint, payload: checkpoint)]
                + LedgerTests.changes(payloads, from: 3)
            bytes = Scratch.read(ledger.size, from: path)
            var copies: [UInt64: (Int, Int, Int)] = [:]
            var checked = [0..<Ledger.Format.fileHeaderSize]
            var offset = 4096
            while offset < bytes.count {
                let header = try #require(Ledger.Format.decodeRecordHeader(bytes, at: offset))
                copies[header.sequence] = (offset, offset + header.extent, header.extent)
                for copy in [offset, offset + header.extent] {
                    checked.append(copy..<copy + Ledger.Format.recordHeaderSize + header.payloadLength)
                }
                offset += 2 * header.extent
            }
            self.copies = copies
            self.checked = checked
        }

        func restore() {
            Scratch.write(bytes, to: path)
            #expect(truncate(path, off_t(bytes.count)) == 0)
        }

        func open() throws -> Ledger.Contents {
            try Ledger.open(path: path, create: false).1
        }
    }

    @Test("a flip of any one bit leaves every record readable and nothing lost, and is reported when checksummed")
    func bitFlips() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        var flips = 0
        var detected = 0
        // Every 7th bit of the bytes a checksum covers, every 61st elsewhere (zero padding, not read).
        var bit = 0
        while bit < sample.bytes.count * 8 {
            let offset = bit / 8
            let isChecked = sample.checked.contains { $0.contains(offset) }
            defer { bit += isChecked ? 7 : 61 }
            Scratch.write([sample.bytes[offset] ^ UInt8(1 << (bit % 8))], to: sample.path, at: offset)
            defer { Scratch.write([sample.bytes[offset]], to: sample.path, at: offset) }
            let contents: Ledger.Contents
            do {
                contents = try sample.open()
            } catch {
                Issue.record("bit \(bit): open failed: \(error)")
                continue
            }
            flips += 1
            #expect(contents.records == sample.records, "bit \(bit)")
            #expect(contents.lost.isEmpty, "bit \(bit): \(contents.lost)")
            #expect(!contents.tornTail, "bit \(bit)")
            #expect(contents.repaired.count == (isChecked ? 1 : 0), "bit \(bit): \(contents.repaired)")
            if !contents.repaired.isEmpty { detected += 1 }
        }
        print("ledger bit flips: \(flips) flipped bits of \(sample.bytes.count * 8), \(detected) repaired")
        #expect(Scratch.read(sample.bytes.count, from: sample.path) == sample.bytes)
    }

    @Test("zeroing any one 4 KiB block leaves every record readable and nothing lost")
    func zeroedBlocks() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        for block in stride(from: 0, to: sample.bytes.count, by: 4096) {
            Scratch.write([UInt8](repeating: 0, count: 4096), to: sample.path, at: block)
            defer { sample.restore() }
            let contents = try sample.open()
            #expect(contents.records == sample.records, "block at \(block)")
            #expect(contents.lost.isEmpty, "block at \(block): \(contents.lost)")
            // The last record's second copy zeroed is what an append cut before that copy leaves: a torn tail
            // (the record kept, the copy written again before the next append), not damage.
            let lastSecondCopy = sample.copies.max { $0.key < $1.key }.map { $0.value.1 }
            let torn = block == lastSecondCopy
            #expect(contents.tornTail == torn, "block at \(block)")
            #expect(contents.repaired.count == (torn ? 0 : 1), "block at \(block): \(contents.repaired)")
        }
    }

    @Test("one damaged copy in every record at once still reads back every record")
    func everyRecordOneCopy() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        for (sequence, copies) in sample.copies {
            let damaged = sequence % 2 == 0 ? copies.first : copies.second
            Scratch.write([UInt8](repeating: 0xAB, count: 100), to: sample.path, at: damaged + 40)
        }
        let contents = try sample.open()
        #expect(contents.records == sample.records)
        #expect(contents.lost.isEmpty && !contents.tornTail)
        #expect(Set(contents.repaired.compactMap(\.sequence)) == Set(sample.copies.keys))
    }

    @Test("truncation anywhere reads back a prefix of the records; inside the last record it is a torn tail")
    func truncations() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        let lastStart = try #require(sample.copies[7]).first
        let checkpointEnd = try #require(sample.copies[2]).second + 4096
        for length in stride(from: 0, to: sample.bytes.count, by: 512) {
            #expect(truncate(sample.path, off_t(length)) == 0)
            defer { sample.restore() }
            let contents: Ledger.Contents
            do {
                contents = try sample.open()
            } catch {
                Issue.record("truncated to \(length): open failed: \(error)")
                continue
            }
            #expect(sample.records.starts(with: contents.records), "truncated to \(length)")
            if length >= checkpointEnd {
                #expect(contents.lost.isEmpty, "truncated to \(length): \(contents.lost)")
                #expect(!contents.records.isEmpty, "truncated to \(length)")
            } else {
                // The checkpoint is gone: the ledger cannot pass off what is left as a whole state.
                #expect(contents.records.isEmpty && !contents.lost.isEmpty, "truncated to \(length)")
            }
            if length > lastStart {
                #expect(contents.records == Array(sample.records.dropLast()), "truncated to \(length)")
                #expect(contents.tornTail && contents.lost.isEmpty, "truncated to \(length)")
            }
        }
    }

    @Test("both copies of a middle record unreadable is a loss naming that record, and the records before it stay")
    func middleRecordLost() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        let middle = try #require(sample.copies[5])
        Scratch.write([UInt8](repeating: 0, count: 4096), to: sample.path, at: middle.first)
        Scratch.write([UInt8](repeating: 0, count: 4096), to: sample.path, at: middle.second)
        let contents = try sample.open()
        #expect(contents.records == Array(sample.records.prefix(3)))
        let loss = try #require(contents.lost.first)
        #expect(loss.sequence == 5 && loss.description.contains("record 5"))
        #expect(loss.offset == middle.first)
        #expect(!contents.tornTail)
    }

    @Test("both copies of the checkpoint unreadable is a loss, and no record is passed off as the state")
    func checkpointLost() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        let checkpoint = try #require(sample.copies[2])
        Scratch.write([UInt8](repeating: 0, count: 4096), to: sample.path, at: checkpoint.first)
        Scratch.write([UInt8](repeating: 0, count: 4096), to: sample.path, at: checkpoint.second)
        let contents = try sample.open()
        #expect(contents.records.isEmpty)
        #expect(contents.lost.first?.sequence == 2)
        #expect(contents.lost.first?.description.contains("checkpoint 2") == true)
    }

    @Test("a damaged header is reported repaired and rewritten by the next append")
    func headerRewritten() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let sample = try Sample(in: root)
        Scratch.write([UInt8](repeating: 0, count: 4096), to: sample.path)
        let (ledger, contents) = try Ledger.open(path: sample.path, create: false)
        #expect(contents.records == sample.records && contents.lost.isEmpty)
        #expect(contents.repaired.map(\.offset) == [0])
        #expect(try ledger.append([42]) == 8)
        let (_, records) = try LedgerTests.reopenClean(sample.path)
        #expect(records == sample.records + [Ledger.Record(sequence: 8, kind: .change, payload: [42])])
        #expect(Scratch.read(44, from: sample.path) == Array(sample.bytes.prefix(44)))
    }
}
