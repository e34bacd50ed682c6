/// Little-endian field access for the fixed layouts of the label storage area.
///
/// Every multi-byte integer in the UEFI namespace label format is little-endian. These helpers read and
/// write one field at a byte offset inside an array that the caller has already sized.
enum LabelBytes {
    /// Reads the little-endian 16-bit integer that starts at `offset`.
    static func load(_: UInt16.Type, from bytes: [UInt8], at offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    /// Reads the little-endian 32-bit integer that starts at `offset`.
    static func load(_: UInt32.Type, from bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    /// Reads the little-endian 64-bit integer that starts at `offset`.
    static func load(_: UInt64.Type, from bytes: [UInt8], at offset: Int) -> UInt64 {
        UInt64(load(UInt32.self, from: bytes, at: offset)) | UInt64(load(UInt32.self, from: bytes, at: offset + 4))
            << 32
    }

    /// Writes `value` as a little-endian 16-bit integer starting at `offset`.
    static func store(_ value: UInt16, into bytes: inout [UInt8], at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    /// Writes `value` as a little-endian 32-bit integer starting at `offset`.
    static func store(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
        store(UInt16(truncatingIfNeeded: value), into: &bytes, at: offset)
        store(UInt16(truncatingIfNeeded: value >> 16), into: &bytes, at: offset + 2)
    }

    /// Writes `value` as a little-endian 64-bit integer starting at `offset`.
    static func store(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        store(UInt32(truncatingIfNeeded: value), into: &bytes, at: offset)
        store(UInt32(truncatingIfNeeded: value >> 32), into: &bytes, at: offset + 4)
    }

    /// Copies `source` into `bytes` starting at `offset`.
    static func copy(_ source: [UInt8], into bytes: inout [UInt8], at offset: Int) {
        bytes.replaceSubrange(offset..<(offset + source.count), with: source)
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
