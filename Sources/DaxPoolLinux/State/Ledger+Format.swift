// Linux only.

extension Ledger {
    /// The on-disk format of a ledger file, version 1. All integers are little-endian; every CRC is CRC-32C
    /// (`Ledger.Checksum`). The file is a sequence of 4096-byte blocks.
    ///
    /// **File header**, block 0 (bytes 0..<4096):
    ///
    /// | offset | size | field |
    /// |---|---|---|
    /// | 0 | 8 | magic `FF 44 41 58 4C 45 44 47` (`\xFF` `DAXLEDG`) |
    /// | 8 | 2 | format version, 1 |
    /// | 10 | 2 | zero |
    /// | 12 | 4 | block size, 4096 |
    /// | 16 | 16 | ledger id: random bytes chosen when the ledger is created, kept by compaction |
    /// | 32 | 8 | base: the sequence of the checkpoint this file starts with; 0 for a ledger created empty |
    /// | 40 | 4 | CRC of bytes 0..<40 |
    /// | 44 | 4052 | zero |
    ///
    /// The header only speeds up and double-checks reading: every record repeats the ledger id and the base, so a
    /// damaged header costs nothing (it is rewritten before the next append).
    ///
    /// **Records.** Each record is written twice, copy 1 then copy 2, each copy starting on a block boundary and
    /// padded with zeros to a whole number of blocks, so one damaged block never takes both copies. The copies
    /// differ only in the copy number and the header CRC. A copy:
    ///
    /// | offset | size | field |
    /// |---|---|---|
    /// | 0 | 8 | magic `FE 44 41 58 52 45 43 44` (`\xFE` `DAXRECD`) |
    /// | 8 | 2 | format version, 1 |
    /// | 10 | 2 | kind: 1 checkpoint, 2 change |
    /// | 12 | 1 | copy number: 1 or 2 |
    /// | 13 | 3 | zero |
    /// | 16 | 8 | sequence |
    /// | 24 | 8 | base (as in the header; a checkpoint's base is its own sequence) |
    /// | 32 | 8 | first sequence of the write that carried this record (its group) |
    /// | 40 | 8 | last sequence of that write |
    /// | 48 | 4 | payload length `n` (at most `Ledger.payloadLimit`) |
    /// | 52 | 4 | CRC of the payload |
    /// | 56 | 16 | ledger id |
    /// | 72 | 4 | zero |
    /// | 76 | 4 | CRC of bytes 0..<76 |
    /// | 80 | `n` | payload |
    /// | 80 + `n` | to the next multiple of 4096 | zero |
    ///
    /// Both magics start with a byte that never occurs in UTF-8 (`FF`, `FE`), so a JSON payload never looks like
    /// the start of a header.
    ///
    /// **Writing.** A new ledger is the header alone, written to `<path>.tmp`, synchronized and renamed into place.
    /// An append (a group commit) writes `[r1 copy 1][r1 copy 2][r2 copy 1][r2 copy 2]…` in one `pwrite(2)` at the
    /// end of the file, then one `fdatasync(2)`; every record carries the group's first and last sequence.
    /// Compaction writes a new file, the header and one checkpoint record, to `<path>.tmp` and renames it over the
    /// ledger.
    ///
    /// **Reading** (`Ledger+Replay.swift`) walks the block boundaries after the header: where a header with a good
    /// CRC stands it reads that copy and skips its blocks, anywhere else it moves on one block, so a damaged
    /// length or payload never hides the records after it. For each sequence the first copy whose header and
    /// payload CRCs pass wins. Records replay from the newest checkpoint (or from the empty state when the base
    /// is 0) through consecutive sequences.
    enum Format {
        /// The size of a block: the file header, and the unit every record copy is aligned and padded to.
        static let blockSize = 4096
        /// The format version both headers carry.
        static let version: UInt16 = 1
        /// The file header's magic.
        static let fileMagic: [UInt8] = [0xFF, 0x44, 0x41, 0x58, 0x4C, 0x45, 0x44, 0x47]
        /// A record copy's magic.
        static let recordMagic: [UInt8] = [0xFE, 0x44, 0x41, 0x58, 0x52, 0x45, 0x43, 0x44]
        /// The bytes of the file header that carry fields (the rest of block 0 is zero).
        static let fileHeaderSize = 44
        /// The size of a record copy's header; the payload follows it.
        static let recordHeaderSize = 80

        /// The ledger's random identity.
        struct Identity: Hashable, Sendable {
            var bytes: [UInt8]

            /// Sixteen random bytes.
            static func random() -> Identity {
                var generator = SystemRandomNumberGenerator()
                return Identity(bytes: (0..<16).map { _ in UInt8.random(in: 0...UInt8.max, using: &generator) })
            }
        }

        /// What a file header says.
        struct FileHeader: Hashable, Sendable {
            var identity: Identity
            var base: UInt64
        }

        /// What a record copy's header says.
        struct RecordHeader: Hashable, Sendable {
            var kind: Kind
            var copy: Int
            var sequence: UInt64
            var base: UInt64
            var groupFirst: UInt64
            var groupLast: UInt64
            var payloadLength: Int
            var payloadChecksum: UInt32
            var identity: Identity

            /// The blocks one copy takes, header and padding included.
            var extent: Int { Format.extent(payloadLength: payloadLength) }
        }

        /// The bytes one copy of a record with a `payloadLength`-byte payload takes.
        static func extent(payloadLength: Int) -> Int {
            (recordHeaderSize + payloadLength + blockSize - 1) / blockSize * blockSize
        }

        /// Block 0 of a ledger file.
        static func encode(_ header: FileHeader) -> [UInt8] {
            var block = [UInt8](repeating: 0, count: blockSize)
            block.replaceSubrange(0..<8, with: fileMagic)
            store(UInt64(version), into: &block, at: 8, size: 2)
            store(UInt64(blockSize), into: &block, at: 12, size: 4)
            block.replaceSubrange(16..<32, with: header.identity.bytes)
            store(header.base, into: &block, at: 32, size: 8)
            store(UInt64(Checksum.crc32c(block, in: 0..<40)), into: &block, at: 40, size: 4)
            return block
        }

        /// The file header at the start of `bytes`, or nil when it is short, its magic, version or block size is
        /// wrong, or its CRC does not match.
        static func decodeFileHeader(_ bytes: [UInt8]) -> FileHeader? {
            guard bytes.count >= fileHeaderSize, bytes[0..<8].elementsEqual(fileMagic),
                load(bytes, at: 8, size: 2) == UInt64(version), load(bytes, at: 12, size: 4) == UInt64(blockSize),
                load(bytes, at: 40, size: 4) == UInt64(Checksum.crc32c(bytes, in: 0..<40))
            else {
                return nil
            }
            return FileHeader(identity: Identity(bytes: Array(bytes[16..<32])), base: load(bytes, at: 32, size: 8))
        }

        /// Both copies of a record, one after the other: `2 * extent` bytes.
        static func encodeRecord(_ header: RecordHeader, payload: [UInt8]) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 2 * header.extent)
            writeRecord(header, payload: payload, into: &bytes, at: 0)
            return bytes
        }

        /// Writes both copies of a record into `bytes` from `offset` (which must hold `2 * extent` zero bytes).
        static func writeRecord(_ header: RecordHeader, payload: [UInt8], into bytes: inout [UInt8], at offset: Int) {
            let extent = header.extent
            for copy in 1...2 {
                let start = offset + (copy - 1) * extent
                bytes.replaceSubrange(start..<start + 8, with: recordMagic)
                store(UInt64(version), into: &bytes, at: start + 8, size: 2)
                store(UInt64(header.kind.rawValue), into: &bytes, at: start + 10, size: 2)
                store(UInt64(copy), into: &bytes, at: start + 12, size: 1)
                store(header.sequence, into: &bytes, at: start + 16, size: 8)
                store(header.base, into: &bytes, at: start + 24, size: 8)
                store(header.groupFirst, into: &bytes, at: start + 32, size: 8)
                store(header.groupLast, into: &bytes, at: start + 40, size: 8)
                store(UInt64(payload.count), into: &bytes, at: start + 48, size: 4)
                store(UInt64(header.payloadChecksum), into: &bytes, at: start + 52, size: 4)
                bytes.replaceSubrange(start + 56..<start + 72, with: header.identity.bytes)
                let checksum = Checksum.crc32c(bytes, in: start..<start + 76)
                store(UInt64(checksum), into: &bytes, at: start + 76, size: 4)
                bytes.replaceSubrange(start + 80..<start + 80 + payload.count, with: payload)
            }
        }

        /// The record copy header at `offset` of `bytes`, or nil when it is cut short, its magic, version, kind,
        /// copy number or length is out of range, or its CRC does not match. The payload is not checked.
        static func decodeRecordHeader(_ bytes: [UInt8], at offset: Int) -> RecordHeader? {
            guard offset >= 0, bytes.count - offset >= recordHeaderSize,
                bytes[offset..<offset + 8].elementsEqual(recordMagic),
                load(bytes, at: offset + 76, size: 4) == UInt64(Checksum.crc32c(bytes, in: offset..<offset + 76)),
                load(bytes, at: offset + 8, size: 2) == UInt64(version),
                let kind = Kind(rawValue: UInt16(load(bytes, at: offset + 10, size: 2)))
            else {
                return nil
            }
            let copy = Int(load(bytes, at: offset + 12, size: 1))
            let length = Int(load(bytes, at: offset + 48, size: 4))
            guard copy == 1 || copy == 2, length <= payloadLimit else {
                return nil
            }
            return RecordHeader(
                kind: kind,
                copy: copy,
                sequence: load(bytes, at: offset + 16, size: 8),
                base: load(bytes, at: offset + 24, size: 8),
                groupFirst: load(bytes, at: offset + 32, size: 8),
                groupLast: load(bytes, at: offset + 40, size: 8),
                payloadLength: length,
                payloadChecksum: UInt32(load(bytes, at: offset + 52, size: 4)),
                identity: Identity(bytes: Array(bytes[offset + 56..<offset + 72]))
            )
        }

        /// Stores the low `size` bytes of `value` little-endian at `offset`.
        private static func store(_ value: UInt64, into bytes: inout [UInt8], at offset: Int, size: Int) {
            for index in 0..<size {
                bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
            }
        }

        /// The little-endian integer of `size` bytes at `offset`.
        private static func load(_ bytes: [UInt8], at offset: Int, size: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in 0..<size {
                value |= UInt64(bytes[offset + index]) << (8 * index)
            }
            return value
        }
    }
}
