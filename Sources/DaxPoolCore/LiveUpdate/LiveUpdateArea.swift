/// The copy of a devdax region's layout that lives inside the region's own memory, so that it survives a kexec
/// even when the state directory does not.
///
/// The area is the region's last `size` bytes (one 2 MiB subsection, the kernel's smallest dax allocation); in a
/// static region (a pmem namespace: one device over the whole region) it is the last `size` bytes of that device,
/// which daxpool keeps from VMMs (`StaticDaxDevice`):
///
/// | offset | size | what |
/// |---|---|---|
/// | 0 | 128 KiB | a label area in the UEFI NVDIMM label format (v1.2, two index blocks, Fletcher64), one label per device range, as `region<R>.labels` holds them: `ndctl`'s and daxpool's label tools read it |
/// | 128 KiB | up to 896 KiB | the primary copy of the `LiveUpdateRecord` (a frame: header + payload) |
/// | 1 MiB | up to 896 KiB | the second copy of the same frame |
///
/// A frame's 64-byte header: magic `DAXPOOL-LIVEUPD` + NUL (16 bytes), format version (u32, 1), header size (u32,
/// 64), sequence (u64), region id (u64), payload length (u64), Fletcher64 of the payload zero-padded to 4 bytes
/// (u64), Fletcher64 of the header with this field zero (u64); little-endian. Each copy is checked on its own, so a
/// damaged byte anywhere in one copy leaves the other; a damaged label area is reported beside them.
public enum LiveUpdateArea {
    /// The area's size: one 2 MiB subsection.
    public static let size = 2 << 20
    /// Where the label area starts, and its size.
    public static let labelOffset = 0
    /// The label area's size in bytes (128 KiB); the first frame copy starts right after it.
    public static let labelSize = 128 << 10
    /// Where the two copies of the frame start.
    public static let copyOffsets = [128 << 10, 1 << 20]
    /// The largest frame (header and payload) a copy holds.
    public static let copyCapacity = 896 << 10
    /// The frame header's size.
    public static let headerSize = 64
    /// `DAXPOOL-LIVEUPD\0`.
    public static let magic: [UInt8] = Array("DAXPOOL-LIVEUPD".utf8) + [0]

    /// The label area for `region`: one v1.2 label per device range, as the state directory's label area holds
    /// them (uuid, name, alignment, region offset as `dpa`, length as `rawsize`).
    public static func labelBytes(for region: RegionSnapshot) throws(LabelError) -> [UInt8] {
        var store = try LabelStore(
            formatting: ByteLabelStorage(size: labelSize), version: .v1Dot2, interleaveSetCookie: 0)
        let namespaces = region.devices.map(namespace(of:))
        if !namespaces.isEmpty { try store.apply(puts: namespaces, removes: []) }
        return store.storage.bytes
    }

    /// The labelled namespace of one device.
    public static func namespace(of device: DeviceSnapshot) -> LabelledNamespace {
        LabelledNamespace(
            uuid: device.record.uuid, name: device.record.name?.value ?? "", alignment: device.record.align.rawValue,
            extents: device.extents.map {
                LabelledNamespace.Extent(dpa: $0.start.rawValue, rawSize: $0.length.rawValue)
            }
        )
    }

    /// The whole area: `labels` at 0 and the frame of `payload` at both copy offsets, zero elsewhere.
    /// - Throws: `LiveUpdateAreaError.payloadTooLarge` when the frame does not fit a copy.
    public static func encode(payload: [UInt8], labels: [UInt8], sequence: UInt64, region: Int)
        throws(LiveUpdateAreaError) -> [UInt8]
    {
        let frame = try encodeFrame(payload: payload, sequence: sequence, region: region)
        var area = [UInt8](repeating: 0, count: size)
        area.replaceSubrange(labelOffset..<labelOffset + min(labels.count, labelSize), with: labels.prefix(labelSize))
        for offset in copyOffsets { area.replaceSubrange(offset..<offset + frame.count, with: frame) }
        return area
    }

    /// One frame: the header, then `payload`.
    public static func encodeFrame(payload: [UInt8], sequence: UInt64, region: Int) throws(LiveUpdateAreaError)
        -> [UInt8]
    {
        guard headerSize + payload.count <= copyCapacity else {
            throw .payloadTooLarge(payload.count, capacity: copyCapacity - headerSize)
        }
        var header = magic
        append(UInt32(1), to: &header)
        append(UInt32(headerSize), to: &header)
        append(sequence, to: &header)
        append(UInt64(bitPattern: Int64(region)), to: &header)
        append(UInt64(payload.count), to: &header)
        append(Fletcher64.checksum(padded(payload)), to: &header)
        append(UInt64(0), to: &header)
        let sum = Fletcher64.checksum(header, zeroingFieldAt: 56)
        header.replaceSubrange(56..<64, with: littleEndian(sum))
        return header + payload
    }

    /// A frame read back from one copy.
    public struct Frame: Hashable, Sendable {
        /// The header's sequence number: which write of the record this frame is.
        public var sequence: UInt64
        /// The region id the header names.
        public var region: Int
        /// The payload bytes, already checked against the header's length and Fletcher64.
        public var payload: [UInt8]
    }

    /// Decodes the frame at the start of `bytes`.
    /// - Throws: `.blank` when the copy holds no frame at all (no magic), `.damaged` naming the field that fails.
    public static func decodeFrame(_ bytes: ArraySlice<UInt8>) throws(LiveUpdateAreaError) -> Frame {
        let bytes = Array(bytes)
        guard bytes.count >= headerSize else { throw .damaged("the copy is shorter than a header") }
        guard Array(bytes[0..<16]) == magic else {
            if bytes[0..<headerSize].allSatisfy({ $0 == 0 }) { throw .blank }
            throw .damaged("the magic is not DAXPOOL-LIVEUPD")
        }
        let header = Array(bytes[0..<headerSize])
        guard read64(header, 56) == Fletcher64.checksum(header, zeroingFieldAt: 56) else {
            throw .damaged("the header checksum does not match")
        }
        guard read32(header, 16) == 1, read32(header, 20) == UInt32(headerSize) else {
            throw .damaged("format version \(read32(header, 16)) is not 1")
        }
        let length = read64(header, 40)
        guard length <= UInt64(bytes.count - headerSize), length <= UInt64(copyCapacity - headerSize) else {
            throw .damaged("the payload length \(length) is larger than the copy")
        }
        let payload = Array(bytes[headerSize..<headerSize + Int(length)])
        guard read64(header, 48) == Fletcher64.checksum(padded(payload)) else {
            throw .damaged("the payload checksum does not match")
        }
        return Frame(sequence: read64(header, 24), region: Int(Int64(bitPattern: read64(header, 32))), payload: payload)
    }

    /// What one area holds.
    public struct Contents: Hashable, Sendable {
        /// The frame that is used: the newer valid copy.
        public var frame: Frame?
        /// What was wrong with each copy and with the label area (empty when all is sound).
        public var damage: [String]
        /// Whether the area holds nothing daxpool wrote (both copies blank).
        public var isBlank: Bool
        /// The namespaces the label area holds, `nil` when it does not decode.
        public var labelled: [LabelledNamespace]?
    }

    /// Reads both copies and the label area of a whole area (`bytes.count == size`).
    public static func decode(_ bytes: [UInt8]) -> Contents {
        var damage: [String] = []
        var frames: [Frame] = []
        var blanks = 0
        for (index, offset) in copyOffsets.enumerated() {
            let which = index == 0 ? "the first copy" : "the second copy"
            guard offset + headerSize <= bytes.count else {
                damage.append("\(which) is cut off")
                continue
            }
            do throws(LiveUpdateAreaError) {
                frames.append(try decodeFrame(bytes[offset..<min(bytes.count, offset + copyCapacity)]))
            } catch .blank {
                blanks += 1
            } catch {
                damage.append("\(which): \(error)")
            }
        }
        if blanks == copyOffsets.count { return Contents(frame: nil, damage: [], isBlank: true, labelled: nil) }
        if blanks > 0 { damage.append("one copy is blank") }
        if frames.count == 2, frames[0] != frames[1] {
            damage.append(
                "the copies differ (sequence \(frames[0].sequence) and \(frames[1].sequence)): the newer is used")
        }
        var labelled: [LabelledNamespace]?
        if bytes.count >= labelOffset + labelSize {
            do throws(LabelError) {
                labelled = try LabelArea.decode(Array(bytes[labelOffset..<labelOffset + labelSize])).namespaces
            } catch {
                damage.append("the label area: \(error)")
            }
        }
        return Contents(
            frame: frames.max { $0.sequence < $1.sequence }, damage: damage, isBlank: false, labelled: labelled)
    }

    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        bytes.count % 4 == 0 ? bytes : bytes + [UInt8](repeating: 0, count: 4 - bytes.count % 4)
    }

    static func append<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
        bytes += littleEndian(value)
    }

    static func littleEndian<Value: FixedWidthInteger>(_ value: Value) -> [UInt8] {
        (0..<Value.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func read64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << ($1 * 8) }
    }

    static func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
    }
}

/// Why a live-update area cannot be used.
public enum LiveUpdateAreaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The copy holds no frame (all zero header, no magic).
    case blank
    /// The copy's header or payload fails its checks.
    case damaged(String)
    /// The record is larger than a copy holds.
    case payloadTooLarge(Int, capacity: Int)

    /// Why the copy was refused, for logs and the live-update report.
    public var description: String {
        switch self {
        case .blank: "the copy is blank"
        case .damaged(let why): why
        case .payloadTooLarge(let count, let capacity):
            "the layout record is \(count) bytes, more than the \(capacity) a copy in memory holds"
        }
    }
}

/// A label storage in memory: the bytes of a label area being built.
public struct ByteLabelStorage: LabelStorage {
    /// The area's bytes.
    public private(set) var bytes: [UInt8]

    /// A zeroed area of `size` bytes.
    public init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }

    /// The area's size in bytes.
    public var size: Int { bytes.count }

    /// The `count` bytes at `offset`.
    /// - Throws: `LabelError.storageOutOfBounds` when the range does not lie inside the area.
    public mutating func read(offset: Int, count: Int) throws(LabelError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset + count <= bytes.count else {
            throw .storageOutOfBounds(offset: offset, count: count, size: bytes.count)
        }
        return Array(bytes[offset..<offset + count])
    }

    /// Replaces the bytes at `offset` with `new`.
    /// - Throws: `LabelError.storageOutOfBounds` when the range does not lie inside the area.
    public mutating func write(offset: Int, bytes new: [UInt8]) throws(LabelError) {
        guard offset >= 0, offset + new.count <= bytes.count else {
            throw .storageOutOfBounds(offset: offset, count: new.count, size: bytes.count)
        }
        bytes.replaceSubrange(offset..<offset + new.count, with: new)
    }

    /// Does nothing: the bytes live in memory only.
    public mutating func flush() throws(LabelError) {}
}
