/// One namespace label (`struct nvdimm_efi_label`): 128 bytes in v1.1, 256 bytes in v1.2.
///
/// | Offset | Size | Field |
/// |---|---|---|
/// | 0 | 16 | `uuid` (RFC 4122 byte order) |
/// | 16 | 64 | `name` (NUL-terminated) |
/// | 80 | 4 | `flags` |
/// | 84 | 2 | `nlabel` |
/// | 86 | 2 | `position` |
/// | 88 | 8 | `isetcookie` |
/// | 96 | 8 | `lbasize` |
/// | 104 | 8 | `dpa` |
/// | 112 | 8 | `rawsize` |
/// | 120 | 4 | `slot` |
/// | 124 | 1 | `align` (v1.2) |
/// | 128 | 16 | `type_guid` (v1.2, mixed-endian GUID) |
/// | 144 | 16 | `abstraction_guid` (v1.2, mixed-endian GUID) |
/// | 248 | 8 | `checksum` (v1.2: Fletcher64 of the label with this field zeroed) |
///
/// A v1.1 label has no `align`, GUID or checksum fields: they decode as zero and are not written.
/// The checksum is not a stored property: `encode(version:)` computes it and `decode` checks it.
public struct NamespaceLabel: Hashable, Sendable {
    /// The size of the `name` field, including the terminating NUL.
    public static let nameFieldSize = 64
    /// The longest name in UTF-8 bytes.
    public static let maximumNameByteCount = nameFieldSize - 1
    /// The offset of the v1.2 checksum field.
    public static let checksumOffset = 248
    /// The alignment `dpa` and `rawsize` must have for the label to be valid.
    public static let extentAlignment: UInt64 = 4096

    /// The label flags (`NSLABEL_FLAG_*`).
    public struct Flags: OptionSet, Hashable, Sendable {
        /// The raw 32-bit field.
        public var rawValue: UInt32

        /// Creates flags from the raw field.
        ///
        /// - Parameter rawValue: The 32-bit `flags` field.
        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        /// `NSLABEL_FLAG_ROLABEL`: the label is read-only.
        public static let readOnly = Flags(rawValue: 0x1)
        /// `NSLABEL_FLAG_LOCAL`: the label set is local to one DIMM (BLK).
        public static let local = Flags(rawValue: 0x2)
        /// `NSLABEL_FLAG_BTT`: the namespace contains a BTT (v1.1 meaning).
        public static let btt = Flags(rawValue: 0x4)
        /// `NSLABEL_FLAG_UPDATING`: written by the first pass of an update.
        public static let updating = Flags(rawValue: 0x8)
    }

    /// The namespace UUID, the same in every label of the set.
    public var uuid: LabelUUID
    /// The optional namespace name (`alt_name`).
    public var name: String
    /// The flags.
    public var flags: Flags
    /// `nlabel`: the number of labels in the set.
    public var labelCount: UInt16
    /// `position`: this label's position in the set.
    public var position: UInt16
    /// `isetcookie`: the interleave-set cookie.
    public var interleaveSetCookie: UInt64
    /// `lbasize`: 0 for pmem, else the sector size.
    public var logicalBlockSize: UInt64
    /// `dpa`: the start of this label's extent in device physical address space.
    public var dpa: UInt64
    /// `rawsize`: the size of this label's extent.
    public var rawSize: UInt64
    /// `slot`: the slot the label is stored in.
    public var slot: UInt32
    /// The raw v1.2 `align` byte.
    public var alignment: UInt8
    /// The v1.2 `type_guid`: the NFIT SPA range type of the region.
    public var typeGUID: LabelUUID
    /// The v1.2 `abstraction_guid`: the claim class, such as `LabelUUID.daxAbstraction`.
    public var abstractionGUID: LabelUUID

    /// Creates a label from its fields.
    ///
    /// - Parameters:
    ///   - uuid: The namespace UUID.
    ///   - name: The name, at most 63 UTF-8 bytes without NUL.
    ///   - flags: The flags.
    ///   - labelCount: `nlabel`.
    ///   - position: `position`.
    ///   - interleaveSetCookie: `isetcookie`.
    ///   - logicalBlockSize: `lbasize`.
    ///   - dpa: `dpa`.
    ///   - rawSize: `rawsize`.
    ///   - slot: `slot`.
    ///   - alignment: The raw `align` byte (v1.2).
    ///   - typeGUID: `type_guid` (v1.2).
    ///   - abstractionGUID: `abstraction_guid` (v1.2).
    public init(
        uuid: LabelUUID,
        name: String = "",
        flags: Flags = [],
        labelCount: UInt16 = 1,
        position: UInt16 = 0,
        interleaveSetCookie: UInt64 = 0,
        logicalBlockSize: UInt64 = 0,
        dpa: UInt64,
        rawSize: UInt64,
        slot: UInt32,
        alignment: UInt8 = 0,
        typeGUID: LabelUUID = .zero,
        abstractionGUID: LabelUUID = .zero
    ) {
        self.uuid = uuid
        self.name = name
        self.flags = flags
        self.labelCount = labelCount
        self.position = position
        self.interleaveSetCookie = interleaveSetCookie
        self.logicalBlockSize = logicalBlockSize
        self.dpa = dpa
        self.rawSize = rawSize
        self.slot = slot
        self.alignment = alignment
        self.typeGUID = typeGUID
        self.abstractionGUID = abstractionGUID
    }

    /// Checks that `name` fits the 64-byte NUL-terminated field.
    ///
    /// - Parameter name: A candidate name.
    /// - Throws: `LabelError.nameTooLong` or `LabelError.nameContainsNul`.
    public static func validateName(_ name: String) throws(LabelError) {
        let byteCount = name.utf8.count
        guard byteCount <= maximumNameByteCount else {
            throw .nameTooLong(name: name, byteCount: byteCount)
        }
        guard !name.utf8.contains(0) else {
            throw .nameContainsNul(name: name)
        }
    }

    /// Encodes the label, with a fresh checksum in v1.2.
    ///
    /// - Parameter version: The format; v1.1 leaves out `align`, the GUIDs and the checksum.
    /// - Returns: `version.labelSize` bytes.
    /// - Throws: `LabelError.nameTooLong` or `LabelError.nameContainsNul`.
    public func encode(version: LabelVersion) throws(LabelError) -> [UInt8] {
        try NamespaceLabel.validateName(name)
        var bytes = [UInt8](repeating: 0, count: version.labelSize)
        LabelBytes.copy(uuid.bytes, into: &bytes, at: 0)
        LabelBytes.copy(Array(name.utf8), into: &bytes, at: 16)
        LabelBytes.store(flags.rawValue, into: &bytes, at: 80)
        LabelBytes.store(labelCount, into: &bytes, at: 84)
        LabelBytes.store(position, into: &bytes, at: 86)
        LabelBytes.store(interleaveSetCookie, into: &bytes, at: 88)
        LabelBytes.store(logicalBlockSize, into: &bytes, at: 96)
        LabelBytes.store(dpa, into: &bytes, at: 104)
        LabelBytes.store(rawSize, into: &bytes, at: 112)
        LabelBytes.store(slot, into: &bytes, at: 120)
        if version == .v1Dot2 {
            bytes[124] = alignment
            LabelBytes.copy(typeGUID.mixedEndianBytes, into: &bytes, at: 128)
            LabelBytes.copy(abstractionGUID.mixedEndianBytes, into: &bytes, at: 144)
        }
        if version.hasLabelChecksum {
            LabelBytes.store(Fletcher64.checksum(bytes), into: &bytes, at: NamespaceLabel.checksumOffset)
        }
        return bytes
    }

    /// Reads the fields of a label without validating it.
    ///
    /// The name is the bytes before the first NUL (or all 64), decoded as UTF-8 with replacement.
    ///
    /// - Parameters:
    ///   - bytes: Exactly `version.labelSize` bytes.
    ///   - version: The format of the area.
    /// - Returns: The fields as stored.
    /// - Throws: `LabelError.byteCountMismatch` if `bytes` has the wrong length.
    public static func parse(_ bytes: [UInt8], version: LabelVersion) throws(LabelError) -> NamespaceLabel {
        guard bytes.count == version.labelSize else {
            throw .byteCountMismatch(expected: version.labelSize, found: bytes.count)
        }
        return parse(bytes, at: 0, version: version)
    }

    /// Reads the label that starts at `offset`; `bytes` must hold `version.labelSize` bytes from there.
    static func parse(_ bytes: [UInt8], at offset: Int, version: LabelVersion) -> NamespaceLabel {
        let nameStart = offset + 16
        var nameEnd = nameStart
        while nameEnd < nameStart + nameFieldSize && bytes[nameEnd] != 0 {
            nameEnd += 1
        }
        var label = NamespaceLabel(
            uuid: LabelUUID(high: bigEndian(bytes, at: offset), low: bigEndian(bytes, at: offset + 8)),
            name: String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self),
            flags: Flags(rawValue: LabelBytes.load(UInt32.self, from: bytes, at: offset + 80)),
            labelCount: LabelBytes.load(UInt16.self, from: bytes, at: offset + 84),
            position: LabelBytes.load(UInt16.self, from: bytes, at: offset + 86),
            interleaveSetCookie: LabelBytes.load(UInt64.self, from: bytes, at: offset + 88),
            logicalBlockSize: LabelBytes.load(UInt64.self, from: bytes, at: offset + 96),
            dpa: LabelBytes.load(UInt64.self, from: bytes, at: offset + 104),
            rawSize: LabelBytes.load(UInt64.self, from: bytes, at: offset + 112),
            slot: LabelBytes.load(UInt32.self, from: bytes, at: offset + 120)
        )
        if version == .v1Dot2 {
            label.alignment = bytes[offset + 124]
            label.typeGUID = mixedEndianGUID(bytes, at: offset + 128)
            label.abstractionGUID = mixedEndianGUID(bytes, at: offset + 144)
        }
        return label
    }

    /// The checksum stored in an encoded v1.2 label.
    ///
    /// - Parameter bytes: An encoded label of 256 bytes.
    public static func storedChecksum(in bytes: [UInt8]) -> UInt64 {
        LabelBytes.load(UInt64.self, from: bytes, at: checksumOffset)
    }

    /// Checks the kernel's `slot_valid()` rules: the `slot` field names `slot`, `dpa` and `rawsize` are
    /// 4 KiB aligned, and (v1.2) the checksum matches.
    ///
    /// - Parameters:
    ///   - bytes: The `version.labelSize` bytes of slot `slot`.
    ///   - version: The format of the area.
    ///   - slot: The slot the bytes were read from.
    /// - Returns: The valid label.
    /// - Throws: The `LabelError.label…` case of the first check that fails.
    public static func decode(_ bytes: [UInt8], version: LabelVersion, slot: Int) throws(LabelError) -> NamespaceLabel {
        guard bytes.count == version.labelSize else {
            throw .byteCountMismatch(expected: version.labelSize, found: bytes.count)
        }
        return try decode(bytes, at: 0, version: version, slot: slot)
    }

    /// Validates and reads the label that starts at `offset`; `bytes` must hold `version.labelSize` bytes from there.
    static func decode(
        _ bytes: [UInt8],
        at offset: Int,
        version: LabelVersion,
        slot: Int
    ) throws(LabelError) -> NamespaceLabel {
        let label = parse(bytes, at: offset, version: version)
        guard Int(label.slot) == slot else {
            throw .labelSlotMismatch(slot: slot, found: label.slot)
        }
        guard (label.dpa | label.rawSize) % extentAlignment == 0 else {
            throw .labelExtentMisaligned(slot: slot, dpa: label.dpa, rawSize: label.rawSize)
        }
        if version.hasLabelChecksum {
            let stored = LabelBytes.load(UInt64.self, from: bytes, at: offset + checksumOffset)
            let range = offset..<(offset + version.labelSize)
            let computed = Fletcher64.checksum(bytes, in: range, zeroingFieldAt: checksumOffset)
            guard stored == computed else {
                throw .labelChecksumMismatch(slot: slot, stored: stored, computed: computed)
            }
        }
        return label
    }

    private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 {
            value = value << 8 | UInt64(bytes[offset + index])
        }
        return value
    }

    /// Reads a mixed-endian GUID: the first three groups little-endian, the rest in order.
    private static func mixedEndianGUID(_ bytes: [UInt8], at offset: Int) -> LabelUUID {
        let high =
            UInt64(LabelBytes.load(UInt32.self, from: bytes, at: offset)) << 32
            | UInt64(LabelBytes.load(UInt16.self, from: bytes, at: offset + 4)) << 16
            | UInt64(LabelBytes.load(UInt16.self, from: bytes, at: offset + 6))
        return LabelUUID(high: high, low: bigEndian(bytes, at: offset + 8))
    }
}
