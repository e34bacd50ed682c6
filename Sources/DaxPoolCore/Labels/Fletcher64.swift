/// The Fletcher64 checksum used by NVDIMM namespace index blocks and v1.2 namespace labels.
///
/// This is the kernel's `nd_fletcher64()` (copied into ndctl's `util/fletcher.h`) with `le = 1`: the input
/// is read as little-endian 32-bit words, `lo32` starts at 0 and wraps modulo 2^32, `hi32` accumulates
/// `lo32` after each word, and the result is `hi32 << 32 | lo32`. Trailing bytes that do not fill a whole
/// word are ignored, as in the kernel's `len / 4` loop.
public enum Fletcher64 {
    /// Computes the checksum of `bytes`.
    ///
    /// - Parameter bytes: The bytes to sum, read as little-endian 32-bit words.
    /// - Returns: `hi32 << 32 | lo32`, where the upper 32 bits of `hi32` are shifted out.
    public static func checksum(_ bytes: [UInt8]) -> UInt64 {
        checksum(bytes, in: 0..<bytes.count, zeroingFieldAt: nil)
    }

    /// Computes the checksum of `bytes` as if the 8-byte checksum field at `fieldOffset` were zero.
    ///
    /// - Parameters:
    ///   - bytes: A whole index block or label, including its stored checksum.
    ///   - fieldOffset: The offset of the 8-byte checksum field inside `bytes`, a multiple of 4.
    /// - Returns: The checksum the structure should carry in that field.
    public static func checksum(_ bytes: [UInt8], zeroingFieldAt fieldOffset: Int) -> UInt64 {
        checksum(bytes, in: 0..<bytes.count, zeroingFieldAt: fieldOffset)
    }

    /// Computes the checksum of `bytes[range]`, reading the 8 bytes at `range.lowerBound + fieldOffset` as zero.
    static func checksum(_ bytes: [UInt8], in range: Range<Int>, zeroingFieldAt fieldOffset: Int?) -> UInt64 {
        var low: UInt32 = 0
        var high: UInt64 = 0
        let end = range.upperBound - range.count % 4
        let fieldStart = fieldOffset.map { range.lowerBound + $0 } ?? end
        bytes.withUnsafeBufferPointer { buffer in
            var offset = range.lowerBound
            while offset < end {
                if offset == fieldStart {
                    // The two zero words of the checksum field add nothing to lo32.
                    high &+= UInt64(low) &* 2
                    offset += 8
                    continue
                }
                let word =
                    UInt32(buffer[offset]) | UInt32(buffer[offset + 1]) << 8
                    | UInt32(buffer[offset + 2]) << 16 | UInt32(buffer[offset + 3]) << 24
                low &+= word
                high &+= UInt64(low)
                offset += 4
            }
        }
        return high << 32 | UInt64(low)
    }
}
