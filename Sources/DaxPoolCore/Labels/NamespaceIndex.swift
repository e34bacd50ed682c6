/// A namespace index block (`struct nd_namespace_index`): a 72-byte header followed by the free-slot bitmap.
///
/// | Offset | Size | Field |
/// |---|---|---|
/// | 0 | 16 | `sig` = `NAMESPACE_INDEX\0` |
/// | 16 | 3 | `flags` |
/// | 19 | 1 | `labelsize` (`label_size >> 8`, honoured from v1.2 on) |
/// | 20 | 4 | `seq` |
/// | 24 | 8 | `myoff` |
/// | 32 | 8 | `mysize` |
/// | 40 | 8 | `otheroff` |
/// | 48 | 8 | `labeloff` |
/// | 56 | 4 | `nslot` |
/// | 60 | 2 | `major` |
/// | 62 | 2 | `minor` |
/// | 64 | 8 | `checksum` (Fletcher64 of the whole block with this field zeroed) |
/// | 72 | … | `free[]`: bit set = slot free; slot `s` is bit `s % 8` of byte `s / 8` |
///
/// The checksum is not a stored property: `encode()` computes it and `decode` checks it.
public struct NamespaceIndex: Hashable, Sendable {
    /// The size of the header before the free bitmap.
    public static let headerSize = 72
    /// The offset of the checksum field.
    public static let checksumOffset = 64
    /// The 16-byte signature, `NAMESPACE_INDEX` and a NUL.
    public static let signature: [UInt8] = Array("NAMESPACE_INDEX".utf8) + [0]

    /// The 24-bit `flags` field; always 0 when written.
    public var flags: UInt32
    /// The raw `labelsize` byte: 0 for 128-byte labels, 1 for 256-byte labels.
    public var labelSizeCode: UInt8
    /// The sequence number; only the low two bits count, and 0 there means invalid.
    public var sequence: UInt32
    /// `myoff`: this block's offset in the area.
    public var myOffset: UInt64
    /// `mysize`: the index block size.
    public var mySize: UInt64
    /// `otheroff`: the other block's offset.
    public var otherOffset: UInt64
    /// `labeloff`: the offset of slot 0.
    public var labelOffset: UInt64
    /// `nslot`: the number of label slots.
    public var slotCount: UInt32
    /// `major`: 1.
    public var major: UInt16
    /// `minor`: 1 for 128-byte labels, 2 for 256-byte labels.
    public var minor: UInt16
    /// The bytes from offset 72 to the end of the block: the free bitmap and its padding.
    public var freeBitmap: [UInt8]

    /// Creates an index block from its fields.
    ///
    /// - Parameters:
    ///   - flags: The 24-bit `flags` field.
    ///   - labelSizeCode: The raw `labelsize` byte.
    ///   - sequence: `seq`.
    ///   - myOffset: `myoff`.
    ///   - mySize: `mysize`.
    ///   - otherOffset: `otheroff`.
    ///   - labelOffset: `labeloff`.
    ///   - slotCount: `nslot`.
    ///   - major: `major`.
    ///   - minor: `minor`.
    ///   - freeBitmap: Everything after the header; its length fixes the encoded size.
    public init(
        flags: UInt32 = 0,
        labelSizeCode: UInt8,
        sequence: UInt32,
        myOffset: UInt64,
        mySize: UInt64,
        otherOffset: UInt64,
        labelOffset: UInt64,
        slotCount: UInt32,
        major: UInt16,
        minor: UInt16,
        freeBitmap: [UInt8]
    ) {
        self.flags = flags
        self.labelSizeCode = labelSizeCode
        self.sequence = sequence
        self.myOffset = myOffset
        self.mySize = mySize
        self.otherOffset = otherOffset
        self.labelOffset = labelOffset
        self.slotCount = slotCount
        self.major = major
        self.minor = minor
        self.freeBitmap = freeBitmap
    }

    /// Creates the index block ndctl's `init-labels` writes: every slot free, including the bits up to the
    /// next multiple of 64 past `nslot` (ndctl sets `ALIGN(nslot, 64) / 8` bytes to `0xff`).
    ///
    /// - Parameters:
    ///   - geometry: The layout of the area.
    ///   - block: 0 or 1.
    ///   - sequence: `seq`; ndctl writes 3 to block 0 and 2 to block 1.
    public init(initializedFor geometry: LabelAreaGeometry, block: Int, sequence: UInt32) {
        var bitmap = [UInt8](repeating: 0, count: geometry.indexSize - NamespaceIndex.headerSize)
        let setBytes = min(LabelBytes.alignUp(geometry.slotCount, to: 64) / 8, bitmap.count)
        for index in 0..<setBytes {
            bitmap[index] = 0xff
        }
        self.init(
            labelSizeCode: 0, sequence: sequence, myOffset: 0, mySize: 0, otherOffset: 0, labelOffset: 0,
            slotCount: UInt32(geometry.slotCount), major: 0, minor: 0, freeBitmap: bitmap)
        self = retargeted(toBlock: block, of: geometry)
    }

    /// The label size this block declares: `1 << (7 + labelsize)` from version 1.2 on, else 128.
    public var declaredLabelSize: Int {
        if Int(major) * 100 + Int(minor) >= 102 {
            return 1 << (7 + Int(labelSizeCode))
        }
        return 128
    }

    /// The number of bytes `encode()` produces.
    public var byteCount: Int {
        NamespaceIndex.headerSize + freeBitmap.count
    }

    /// Whether `slot` is marked free. Slots beyond the bitmap read as in use.
    ///
    /// - Parameter slot: A slot number.
    public func isFree(slot: Int) -> Bool {
        guard slot >= 0, slot / 8 < freeBitmap.count else {
            return false
        }
        return freeBitmap[slot / 8] & (1 << UInt8(slot % 8)) != 0
    }

    /// Marks `slot` free or in use. Slots beyond the bitmap are ignored.
    ///
    /// - Parameters:
    ///   - free: `true` to set the bit (free), `false` to clear it (in use).
    ///   - slot: A slot number.
    public mutating func setFree(_ free: Bool, slot: Int) {
        guard slot >= 0, slot / 8 < freeBitmap.count else {
            return
        }
        let mask: UInt8 = 1 << UInt8(slot % 8)
        if free {
            freeBitmap[slot / 8] |= mask
        } else {
            freeBitmap[slot / 8] &= ~mask
        }
    }

    /// The slots below `nslot` whose bit is set, in ascending order.
    public var freeSlots: [Int] {
        slots(free: true)
    }

    /// The slots below `nslot` whose bit is clear (in use), in ascending order.
    public var usedSlots: [Int] {
        slots(free: false)
    }

    private func slots(free: Bool) -> [Int] {
        var result: [Int] = []
        let count = min(Int(slotCount), freeBitmap.count * 8)
        var slot = 0
        while slot < count {
            let byte = freeBitmap[slot / 8]
            if slot % 8 == 0 && slot + 8 <= count && byte == (free ? 0 : 0xff) {
                slot += 8
                continue
            }
            if (byte & (1 << UInt8(slot % 8)) != 0) == free {
                result.append(slot)
            }
            slot += 1
        }
        if !free && count < Int(slotCount) {
            result.append(contentsOf: count..<Int(slotCount))
        }
        return result
    }

    /// Returns this block with the fields the kernel's `nd_label_write_index()` sets for block `block`:
    /// signature, zero flags, `labelsize`, offsets, `mysize`, `major` and `minor`. `seq`, `nslot` and the
    /// bitmap are kept.
    ///
    /// - Parameters:
    ///   - block: 0 or 1.
    ///   - geometry: The layout of the area.
    /// - Returns: The block as it is written at `geometry.indexOffset(ofBlock: block)`.
    public func retargeted(toBlock block: Int, of geometry: LabelAreaGeometry) -> NamespaceIndex {
        var result = self
        result.flags = 0
        result.labelSizeCode = geometry.version.labelSizeCode
        result.myOffset = UInt64(geometry.indexOffset(ofBlock: block))
        result.mySize = UInt64(geometry.indexSize)
        result.otherOffset = UInt64(geometry.indexOffset(ofBlock: 1 - block))
        result.labelOffset = UInt64(geometry.labelOffset)
        result.major = geometry.version.major
        result.minor = geometry.version.minor
        return result
    }

    /// Encodes the block with a fresh checksum.
    ///
    /// - Returns: `byteCount` bytes.
    public func encode() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: byteCount)
        LabelBytes.copy(NamespaceIndex.signature, into: &bytes, at: 0)
        bytes[16] = UInt8(truncatingIfNeeded: flags)
        bytes[17] = UInt8(truncatingIfNeeded: flags >> 8)
        bytes[18] = UInt8(truncatingIfNeeded: flags >> 16)
        bytes[19] = labelSizeCode
        LabelBytes.store(sequence, into: &bytes, at: 20)
        LabelBytes.store(myOffset, into: &bytes, at: 24)
        LabelBytes.store(mySize, into: &bytes, at: 32)
        LabelBytes.store(otherOffset, into: &bytes, at: 40)
        LabelBytes.store(labelOffset, into: &bytes, at: 48)
        LabelBytes.store(slotCount, into: &bytes, at: 56)
        LabelBytes.store(major, into: &bytes, at: 60)
        LabelBytes.store(minor, into: &bytes, at: 62)
        LabelBytes.copy(freeBitmap, into: &bytes, at: NamespaceIndex.headerSize)
        LabelBytes.store(Fletcher64.checksum(bytes), into: &bytes, at: NamespaceIndex.checksumOffset)
        return bytes
    }

    /// Reads the fields of an index block without checking anything but its length.
    ///
    /// - Parameter bytes: At least 72 bytes; everything after the header becomes `freeBitmap`.
    /// - Returns: The fields as stored (the signature and checksum are not kept).
    /// - Throws: `LabelError.byteCountMismatch` if `bytes` is shorter than the header.
    public static func parse(_ bytes: [UInt8]) throws(LabelError) -> NamespaceIndex {
        guard bytes.count >= headerSize else {
            throw .byteCountMismatch(expected: headerSize, found: bytes.count)
        }
        return NamespaceIndex(
            flags: UInt32(bytes[16]) | UInt32(bytes[17]) << 8 | UInt32(bytes[18]) << 16,
            labelSizeCode: bytes[19],
            sequence: LabelBytes.load(UInt32.self, from: bytes, at: 20),
            myOffset: LabelBytes.load(UInt64.self, from: bytes, at: 24),
            mySize: LabelBytes.load(UInt64.self, from: bytes, at: 32),
            otherOffset: LabelBytes.load(UInt64.self, from: bytes, at: 40),
            labelOffset: LabelBytes.load(UInt64.self, from: bytes, at: 48),
            slotCount: LabelBytes.load(UInt32.self, from: bytes, at: 56),
            major: LabelBytes.load(UInt16.self, from: bytes, at: 60),
            minor: LabelBytes.load(UInt16.self, from: bytes, at: 62),
            freeBitmap: Array(bytes[headerSize...])
        )
    }

    /// The checksum stored in an encoded block.
    ///
    /// - Parameter bytes: An encoded block of at least 72 bytes.
    public static func storedChecksum(in bytes: [UInt8]) -> UInt64 {
        LabelBytes.load(UInt64.self, from: bytes, at: checksumOffset)
    }

    /// Decodes and validates index block `block` in the kernel's order (`__nd_label_validate()`):
    /// signature, label size, checksum, sequence, `myoff`, `otheroff`, `labeloff`, `mysize`, `nslot`.
    ///
    /// - Parameters:
    ///   - bytes: Exactly `geometry.indexSize` bytes read at `geometry.indexOffset(ofBlock: block)`.
    ///   - block: 0 or 1.
    ///   - geometry: The layout being probed; its version fixes the expected label size.
    /// - Returns: The valid block.
    /// - Throws: The `LabelError.index…` case of the first check that fails.
    public static func decode(
        _ bytes: [UInt8],
        block: Int,
        geometry: LabelAreaGeometry
    ) throws(LabelError) -> NamespaceIndex {
        guard bytes.count == geometry.indexSize else {
            throw .byteCountMismatch(expected: geometry.indexSize, found: bytes.count)
        }
        guard Array(bytes[0..<16]) == signature else {
            throw .indexSignatureInvalid(block: block)
        }
        let index = try parse(bytes)
        guard index.declaredLabelSize == geometry.labelSize else {
            throw .indexLabelSizeMismatch(block: block, found: index.declaredLabelSize, expected: geometry.labelSize)
        }
        let stored = storedChecksum(in: bytes)
        let computed = Fletcher64.checksum(bytes, zeroingFieldAt: checksumOffset)
        guard stored == computed else {
            throw .indexChecksumMismatch(block: block, stored: stored, computed: computed)
        }
        guard index.sequence & sequenceMask != 0 else {
            throw .indexSequenceInvalid(block: block, sequence: index.sequence)
        }
        let expectedOffset = UInt64(geometry.indexOffset(ofBlock: block))
        guard index.myOffset == expectedOffset else {
            throw .indexOffsetMismatch(block: block, found: index.myOffset, expected: expectedOffset)
        }
        let expectedOther = UInt64(geometry.indexOffset(ofBlock: 1 - block))
        guard index.otherOffset == expectedOther else {
            throw .indexOtherOffsetMismatch(block: block, found: index.otherOffset, expected: expectedOther)
        }
        let expectedLabelOffset = UInt64(geometry.labelOffset)
        guard index.labelOffset == expectedLabelOffset else {
            throw .indexLabelOffsetMismatch(block: block, found: index.labelOffset, expected: expectedLabelOffset)
        }
        guard index.mySize >= UInt64(headerSize), index.mySize <= UInt64(geometry.indexSize) else {
            throw .indexSizeInvalid(block: block, found: index.mySize, minimum: headerSize, maximum: geometry.indexSize)
        }
        guard geometry.canHold(slotCount: index.slotCount) else {
            throw .indexSlotCountInvalid(block: block, slotCount: index.slotCount, configSize: geometry.configSize)
        }
        return index
    }
}
