/// Little-endian field access for the fixed layouts of the label storage area.
///
/// Every multi-byte integer in the UEFI namespace label format is little-endian. These helpers read and
/// write one field at a byte offset inside an array that the caller has already sized.
enum LabelBytes {
    /// Reads the little-endian integer of type `T` that starts at `offset`.
    static func load<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, from bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        for index in 0..<(T.bitWidth / 8) {
            value |= T(bytes[offset + index]) << (8 * index)
        }
        return value
    }

    /// Writes `value` as a little-endian integer starting at `offset`.
    static func store<T: FixedWidthInteger & UnsignedInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        for index in 0..<(T.bitWidth / 8) {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }

    /// Copies `source` into `bytes` starting at `offset`.
    static func copy(_ source: [UInt8], into bytes: inout [UInt8], at offset: Int) {
        for (index, byte) in source.enumerated() {
            bytes[offset + index] = byte
        }
    }

    /// The `count` bytes of `bytes` that start at `offset`, as a new array.
    static func slice(_ bytes: [UInt8], at offset: Int, count: Int) -> [UInt8] {
        Array(bytes[offset..<(offset + count)])
    }

    /// Rounds `value` up to a multiple of `alignment` (a power of two).
    static func alignUp(_ value: Int, to alignment: Int) -> Int {
        (value + alignment - 1) & ~(alignment - 1)
    }
}
