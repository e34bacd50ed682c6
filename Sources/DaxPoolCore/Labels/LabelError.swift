/// Everything that can go wrong while decoding, validating or updating a label storage area.
///
/// Index-block cases are named after the kernel's `__nd_label_validate()` checks and carry the block
/// number (0 or 1) plus the offending and expected values; label cases carry the slot.
public enum LabelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `configSize` cannot hold two index blocks and two labels of `labelSize` bytes.
    case areaSizeInvalid(configSize: Int, labelSize: Int)
    /// A buffer handed to a decoder has the wrong length.
    case byteCountMismatch(expected: Int, found: Int)

    /// The index block does not start with `NAMESPACE_INDEX\0`.
    case indexSignatureInvalid(block: Int)
    /// The label size implied by the index block's version and `labelsize` byte is not the one probed.
    case indexLabelSizeMismatch(block: Int, found: Int, expected: Int)
    /// The stored Fletcher64 does not match the block's contents.
    case indexChecksumMismatch(block: Int, stored: UInt64, computed: UInt64)
    /// The sequence number is 0 in its low two bits.
    case indexSequenceInvalid(block: Int, sequence: UInt32)
    /// `myoff` is not `block * index_size`.
    case indexOffsetMismatch(block: Int, found: UInt64, expected: UInt64)
    /// `otheroff` is not the other block's offset.
    case indexOtherOffsetMismatch(block: Int, found: UInt64, expected: UInt64)
    /// `labeloff` is not `2 * index_size`.
    case indexLabelOffsetMismatch(block: Int, found: UInt64, expected: UInt64)
    /// `mysize` is outside `72...index_size`.
    case indexSizeInvalid(block: Int, found: UInt64, minimum: Int, maximum: Int)
    /// `nslot` labels do not fit in the area after the two index blocks.
    case indexSlotCountInvalid(block: Int, slotCount: UInt32, configSize: Int)
    /// Neither index block is valid for any label size; each associated value says why.
    indirect case noValidIndex(block0: LabelError, block1: LabelError)

    /// The label's `slot` field does not name the slot it is stored in.
    case labelSlotMismatch(slot: Int, found: UInt32)
    /// The label's `dpa` or `rawsize` is not a multiple of 4 KiB.
    case labelExtentMisaligned(slot: Int, dpa: UInt64, rawSize: UInt64)
    /// The v1.2 label's stored Fletcher64 does not match its contents.
    case labelChecksumMismatch(slot: Int, stored: UInt64, computed: UInt64)

    /// A name needs more than 63 UTF-8 bytes (the field holds 64 bytes including the NUL).
    case nameTooLong(name: String, byteCount: Int)
    /// A name contains a NUL character, which would end it early.
    case nameContainsNul(name: String)
    /// A string is not a UUID in the canonical 8-4-4-4-12 form.
    case invalidUUIDString(String)

    /// The area lacks free slots for both passes of the update; nothing was written.
    case areaFull(needed: Int, free: Int)
    /// A namespace uses the all-zero UUID, which means "no namespace".
    case zeroUUID
    /// The same UUID appears twice in one update.
    case duplicateUUID(LabelUUID)
    /// A namespace has no extents; remove it instead.
    case noExtents(uuid: LabelUUID)
    /// A namespace has more extents than the 16-bit `nlabel` field can count.
    case tooManyExtents(uuid: LabelUUID, count: Int)
    /// An extent's start or size is not a multiple of 4 KiB, so its label would be rejected on load.
    case extentMisaligned(uuid: LabelUUID, dpa: UInt64, rawSize: UInt64)
    /// An extent has size zero.
    case emptyExtent(uuid: LabelUUID, dpa: UInt64)
    /// An alignment is neither 0 (unknown) nor a power of two of at least 2.
    case invalidAlignment(uuid: LabelUUID, alignment: UInt64)
    /// v1.1 labels have no `align` field, so a non-zero alignment cannot be stored.
    case alignmentNotStorable(uuid: LabelUUID, version: LabelVersion)

    /// The storage backend failed; `errorNumber` is the backend's errno, or 0 if it has none.
    case storageFailed(operation: LabelStorageOperation, offset: Int, count: Int, errorNumber: Int32)
    /// An access reaches outside the storage.
    case storageOutOfBounds(offset: Int, count: Int, size: Int)
    /// A read returned fewer bytes than asked for.
    case storageShortRead(offset: Int, expected: Int, found: Int)

    /// A sentence that says what is wrong and, where it helps, what to do.
    public var description: String {
        switch self {
        case .areaSizeInvalid(let configSize, let labelSize):
            return "label area of \(configSize) bytes cannot hold two index blocks and two \(labelSize)-byte labels"
        case .byteCountMismatch(let expected, let found):
            return "expected \(expected) bytes, got \(found)"
        case .indexSignatureInvalid(let block):
            return "index block \(block): signature is not NAMESPACE_INDEX"
        case .indexLabelSizeMismatch(let block, let found, let expected):
            return "index block \(block): label size \(found) is not the expected \(expected)"
        case .indexChecksumMismatch(let block, let stored, let computed):
            return "index block \(block): checksum \(hex(stored)) does not match computed \(hex(computed))"
        case .indexSequenceInvalid(let block, let sequence):
            return "index block \(block): sequence number \(sequence) is invalid"
        case .indexOffsetMismatch(let block, let found, let expected):
            return "index block \(block): myoff \(hex(found)) is not \(hex(expected))"
        case .indexOtherOffsetMismatch(let block, let found, let expected):
            return "index block \(block): otheroff \(hex(found)) is not \(hex(expected))"
        case .indexLabelOffsetMismatch(let block, let found, let expected):
            return "index block \(block): labeloff \(hex(found)) is not \(hex(expected))"
        case .indexSizeInvalid(let block, let found, let minimum, let maximum):
            return "index block \(block): mysize \(found) is outside \(minimum)...\(maximum)"
        case .indexSlotCountInvalid(let block, let slotCount, let configSize):
            return "index block \(block): \(slotCount) slots do not fit in a \(configSize)-byte area"
        case .noValidIndex(let block0, let block1):
            return "no valid index block (block 0: \(block0); block 1: \(block1)); initialize the label area"
        case .labelSlotMismatch(let slot, let found):
            return "label in slot \(slot) says it belongs in slot \(found)"
        case .labelExtentMisaligned(let slot, let dpa, let rawSize):
            return "label in slot \(slot): dpa \(hex(dpa)) or rawsize \(hex(rawSize)) is not 4 KiB aligned"
        case .labelChecksumMismatch(let slot, let stored, let computed):
            return "label in slot \(slot): checksum \(hex(stored)) does not match computed \(hex(computed))"
        case .nameTooLong(let name, let byteCount):
            return "name \"\(name)\" is \(byteCount) bytes long; use at most 63 UTF-8 bytes"
        case .nameContainsNul(let name):
            return "name \"\(name)\" contains a NUL character"
        case .invalidUUIDString(let text):
            return "\"\(text)\" is not a UUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
        case .areaFull(let needed, let free):
            return "label area full: the update needs \(needed) free slots, \(free) are free; remove a device first"
        case .zeroUUID:
            return "the all-zero UUID cannot name a namespace"
        case .duplicateUUID(let uuid):
            return "UUID \(uuid) appears more than once in one update"
        case .noExtents(let uuid):
            return "namespace \(uuid) has no extents; remove it instead"
        case .tooManyExtents(let uuid, let count):
            return "namespace \(uuid) has \(count) extents; at most 65535 fit in a label set"
        case .extentMisaligned(let uuid, let dpa, let rawSize):
            return "namespace \(uuid): extent at \(hex(dpa)) of \(hex(rawSize)) bytes is not 4 KiB aligned"
        case .emptyExtent(let uuid, let dpa):
            return "namespace \(uuid): extent at \(hex(dpa)) has size zero"
        case .invalidAlignment(let uuid, let alignment):
            return "namespace \(uuid): alignment \(alignment) is not 0 or a power of two of at least 2"
        case .alignmentNotStorable(let uuid, let version):
            return "namespace \(uuid): v\(version) labels cannot store an alignment; use v1.2 labels"
        case .storageFailed(let operation, let offset, let count, let errorNumber):
            return "label storage \(operation) of \(count) bytes at \(offset) failed (errno \(errorNumber))"
        case .storageOutOfBounds(let offset, let count, let size):
            return "label storage access of \(count) bytes at \(offset) is outside its \(size) bytes"
        case .storageShortRead(let offset, let expected, let found):
            return "label storage read at \(offset) returned \(found) of \(expected) bytes"
        }
    }

    private func hex(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16)
    }
}
