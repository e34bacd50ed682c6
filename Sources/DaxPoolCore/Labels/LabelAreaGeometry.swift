/// Where the index blocks and label slots of a label storage area lie.
///
/// The sizing is the kernel's `nvdimm_num_label_slots()` / `sizeof_namespace_index()` (identical in ndctl):
///
/// ```
/// index_size(n) = ALIGN(72 + DIV_ROUND_UP(n, 8), 256)
/// tmp_nslot     = config_size / label_size
/// nslot         = (config_size - 2 * index_size(tmp_nslot)) / label_size
/// index_size    = index_size(nslot)
/// valid iff 2 * index_size + nslot * label_size <= config_size && nslot >= 2
/// ```
///
/// A 128 KiB area holds 510 slots of 256 bytes or 1020 slots of 128 bytes, each after two 256-byte index
/// blocks. The slot count stored in an existing index block may be smaller (older kernels computed
/// `config_size / (label_size + 1)`); code that walks slots uses the index block's `nslot`, not `slotCount`.
public struct LabelAreaGeometry: Hashable, Sendable {
    /// The alignment of an index block's size (`NSINDEX_ALIGN`).
    public static let indexAlignment = 256

    /// The size of the whole label storage area in bytes.
    public let configSize: Int
    /// The label format version, which fixes the label size.
    public let version: LabelVersion
    /// The size of one index block in bytes.
    public let indexSize: Int
    /// The number of label slots a freshly initialized area has.
    public let slotCount: Int

    /// Computes the layout of an area of `configSize` bytes holding labels of `version`.
    ///
    /// - Parameters:
    ///   - configSize: The size of the label storage area in bytes.
    ///   - version: The label format version.
    /// - Throws: `LabelError.areaSizeInvalid` if the area cannot hold two index blocks and two labels.
    public init(configSize: Int, version: LabelVersion) throws(LabelError) {
        let labelSize = version.labelSize
        guard configSize >= 0, configSize <= Int(UInt32.max) else {
            throw .areaSizeInvalid(configSize: configSize, labelSize: labelSize)
        }
        let provisionalSlots = configSize / labelSize
        let provisionalIndexSize = LabelAreaGeometry.indexSize(forSlotCount: provisionalSlots)
        let slots = (configSize - 2 * provisionalIndexSize) / labelSize
        guard slots >= 2 else {
            throw .areaSizeInvalid(configSize: configSize, labelSize: labelSize)
        }
        let indexSize = LabelAreaGeometry.indexSize(forSlotCount: slots)
        guard 2 * indexSize + slots * labelSize <= configSize else {
            throw .areaSizeInvalid(configSize: configSize, labelSize: labelSize)
        }
        self.configSize = configSize
        self.version = version
        self.indexSize = indexSize
        self.slotCount = slots
    }

    /// The size of an index block whose bitmap covers `slotCount` slots (`__sizeof_namespace_index()`).
    ///
    /// - Parameter slotCount: The number of label slots.
    /// - Returns: `ALIGN(72 + DIV_ROUND_UP(slotCount, 8), 256)`.
    public static func indexSize(forSlotCount slotCount: Int) -> Int {
        LabelBytes.alignUp(NamespaceIndex.headerSize + (slotCount + 7) / 8, to: indexAlignment)
    }

    /// The size of one label slot in bytes.
    public var labelSize: Int {
        version.labelSize
    }

    /// The offset of slot 0 (`labeloff`): right after the two index blocks.
    public var labelOffset: Int {
        2 * indexSize
    }

    /// The offset of index block `block` (0 or 1).
    ///
    /// - Parameter block: 0 or 1.
    /// - Returns: `block * indexSize`.
    public func indexOffset(ofBlock block: Int) -> Int {
        block * indexSize
    }

    /// The offset of label slot `slot`.
    ///
    /// - Parameter slot: A slot number below the index block's `nslot`.
    /// - Returns: `labelOffset + slot * labelSize`.
    public func offset(ofSlot slot: Int) -> Int {
        labelOffset + slot * labelSize
    }

    /// Whether `slotCount` labels fit after the two index blocks (the validator's `nslot` bound).
    ///
    /// - Parameter slotCount: An index block's `nslot`.
    public func canHold(slotCount: UInt32) -> Bool {
        UInt64(slotCount) * UInt64(labelSize) + UInt64(2 * indexSize) <= UInt64(configSize)
    }
}
