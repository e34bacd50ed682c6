// Linux only.

extension Ledger {
    /// CRC-32C (Castagnoli: reflected polynomial `0x82F63B78`, initial value and final XOR `0xFFFFFFFF`), the
    /// checksum of iSCSI, ext4 metadata and Btrfs, computed eight bytes at a time ("slicing by 8"). It catches
    /// every burst error of up to 32 bits and every error of up to 5 bits in a record of the sizes the ledger
    /// writes, which the Fletcher64 of the label format does not.
    ///
    /// The check value (the CRC of the ASCII bytes `123456789`) is `0xE3069283`.
    enum Checksum {
        /// Eight 256-entry tables, one after the other: table 0 is the byte-at-a-time table, table `k` advances a
        /// byte's contribution by `k` more bytes.
        private static let tables: [UInt32] = {
            var tables = [UInt32](repeating: 0, count: 8 * 256)
            for index in 0..<256 {
                var value = UInt32(index)
                for _ in 0..<8 {
                    value = value & 1 != 0 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1
                }
                tables[index] = value
            }
            for index in 0..<256 {
                var value = tables[index]
                for table in 1..<8 {
                    value = tables[Int(value & 0xFF)] ^ (value >> 8)
                    tables[table * 256 + index] = value
                }
            }
            return tables
        }()

        /// The CRC-32C of `bytes[range]`.
        static func crc32c(_ bytes: [UInt8], in range: Range<Int>) -> UInt32 {
            bytes.withUnsafeBytes { buffer in
                crc32c(UnsafeRawBufferPointer(rebasing: buffer[range]))
            }
        }

        /// The CRC-32C of `bytes`.
        static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            tables.withUnsafeBufferPointer { table in
                var offset = 0
                let count = bytes.count
                while count - offset >= 8 {
                    let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) ^ crc
                    let high = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                    crc =
                        table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                        ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                        ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                        ^ table[256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                    offset += 8
                }
                while offset < count {
                    crc = table[Int((crc ^ UInt32(bytes[offset])) & 0xFF)] ^ (crc >> 8)
                    offset += 1
                }
            }
            return ~crc
        }
    }
}
