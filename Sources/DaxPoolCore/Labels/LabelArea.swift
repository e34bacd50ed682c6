/// A decoded label storage area: both index blocks, the current one, and its active labels.
///
/// Decoding follows the kernel (`nd_label_validate()`, `nd_label_active()`): probe 128-byte labels, then
/// 256-byte labels; with both blocks valid the current one is chosen by `NamespaceIndex.currentBlock`;
/// a slot is active when its bit is clear in the current block and its label passes `slot_valid()`.
/// The namespaces are then assembled from the active labels by the rule in `LabelArea+Recovery.swift`.
public struct LabelArea: Hashable, Sendable {
    /// A slot that is in use in the current index but whose label failed validation.
    public struct RejectedSlot: Hashable, Sendable {
        /// The slot number.
        public var slot: Int
        /// Why the label was rejected.
        public var error: LabelError

        /// Creates a record of a rejected slot.
        ///
        /// - Parameters:
        ///   - slot: The slot number.
        ///   - error: Why the label was rejected.
        public init(slot: Int, error: LabelError) {
            self.slot = slot
            self.error = error
        }
    }

    /// The layout of the area for the version found.
    public let geometry: LabelAreaGeometry
    /// Index blocks 0 and 1, each decoded or the reason it is invalid.
    public let blocks: [Result<NamespaceIndex, LabelError>]
    /// The block (0 or 1) that holds the current index.
    public let currentBlock: Int
    /// The current index.
    public let currentIndex: NamespaceIndex
    /// The active labels, in slot order.
    public let activeLabels: [NamespaceLabel]
    /// Slots in use whose labels are invalid, in slot order. They stay in use until an update frees them.
    public let rejectedSlots: [RejectedSlot]
    /// The namespaces the active labels describe, sorted by UUID.
    public let namespaces: [LabelledNamespace]
    /// UUIDs whose active labels form no complete set, sorted. They are not in `namespaces`.
    public let incompleteUUIDs: [LabelUUID]

    /// The label format version.
    public var version: LabelVersion {
        geometry.version
    }

    /// The block the next update writes (`(current + 1) % 2`).
    public var nextBlock: Int {
        1 - currentBlock
    }

    /// Decodes an area, probing v1.1 (128-byte labels) first and then v1.2, as the kernel does.
    ///
    /// - Parameter bytes: The whole area; its length is `config_size`.
    /// - Returns: The decoded area.
    /// - Throws: `LabelError.noValidIndex` if neither block validates for either label size, or
    ///   `LabelError.areaSizeInvalid` if the area is too small for any layout.
    public static func decode(_ bytes: [UInt8]) throws(LabelError) -> LabelArea {
        var failures: [(version: LabelVersion, block0: LabelError, block1: LabelError)] = []
        var sizeError: LabelError?
        for version in [LabelVersion.v1Dot1, .v1Dot2] {
            do throws(LabelError) {
                return try decode(bytes, version: version)
            } catch {
                switch error {
                case .noValidIndex(let block0, let block1):
                    failures.append((version, block0, block1))
                default:
                    sizeError = sizeError ?? error
                }
            }
        }
        guard let last = failures.last else {
            throw sizeError ?? .areaSizeInvalid(configSize: bytes.count, labelSize: LabelVersion.v1Dot1.labelSize)
        }
        // Report, per block, the v1.2 reason unless it only says "not 256-byte labels".
        let first = failures[0]
        func pick(_ later: LabelError, _ earlier: LabelError) -> LabelError {
            if case .indexLabelSizeMismatch = later {
                return earlier
            }
            return later
        }
        throw .noValidIndex(block0: pick(last.block0, first.block0), block1: pick(last.block1, first.block1))
    }

    /// Decodes an area whose label size is known.
    ///
    /// - Parameters:
    ///   - bytes: The whole area.
    ///   - version: The label format to validate against.
    /// - Returns: The decoded area.
    /// - Throws: `LabelError.noValidIndex` or `LabelError.areaSizeInvalid`.
    public static func decode(_ bytes: [UInt8], version: LabelVersion) throws(LabelError) -> LabelArea {
        let geometry = try LabelAreaGeometry(configSize: bytes.count, version: version)
        let blocks = (0..<2).map { block in
            Result { () throws(LabelError) -> NamespaceIndex in
                let offset = geometry.indexOffset(ofBlock: block)
                let blockBytes = LabelBytes.slice(bytes, at: offset, count: geometry.indexSize)
                return try NamespaceIndex.decode(blockBytes, block: block, geometry: geometry)
            }
        }
        let current: (block: Int, index: NamespaceIndex)
        switch (blocks[0], blocks[1]) {
        case (.success(let index0), .success(let index1)):
            let block = NamespaceIndex.currentBlock(index0, index1)
            current = (block, block == 0 ? index0 : index1)
        case (.success(let index0), .failure):
            current = (0, index0)
        case (.failure, .success(let index1)):
            current = (1, index1)
        case (.failure(let error0), .failure(let error1)):
            throw .noValidIndex(block0: error0, block1: error1)
        }
        var active: [NamespaceLabel] = []
        var rejected: [RejectedSlot] = []
        for slot in current.index.usedSlots {
            do throws(LabelError) {
                let offset = geometry.offset(ofSlot: slot)
                active.append(try NamespaceLabel.decode(bytes, at: offset, version: version, slot: slot))
            } catch {
                rejected.append(RejectedSlot(slot: slot, error: error))
            }
        }
        let assembled = LabelArea.assembleNamespaces(from: active)
        return LabelArea(
            geometry: geometry,
            blocks: blocks,
            currentBlock: current.block,
            currentIndex: current.index,
            activeLabels: active,
            rejectedSlots: rejected,
            namespaces: assembled.namespaces,
            incompleteUUIDs: assembled.incomplete
        )
    }

    /// The bytes of an empty area as ndctl's `init-labels` writes it: block 0 with `seq` 3 (current), block 1
    /// with `seq` 2, every slot free (bitmap bytes up to `ALIGN(nslot, 64) / 8` set to `0xff`), all labels zero.
    ///
    /// - Parameters:
    ///   - configSize: The size of the area in bytes.
    ///   - version: The label format.
    /// - Returns: `configSize` bytes.
    /// - Throws: `LabelError.areaSizeInvalid` if the area is too small.
    public static func initializedBytes(configSize: Int, version: LabelVersion) throws(LabelError) -> [UInt8] {
        let geometry = try LabelAreaGeometry(configSize: configSize, version: version)
        var bytes = [UInt8](repeating: 0, count: configSize)
        for block in 0..<2 {
            let index = NamespaceIndex(initializedFor: geometry, block: block, sequence: block == 0 ? 3 : 2)
            LabelBytes.copy(index.encode(), into: &bytes, at: geometry.indexOffset(ofBlock: block))
        }
        return bytes
    }

    /// The decoded form of `initializedBytes(configSize:version:)`.
    ///
    /// - Parameters:
    ///   - configSize: The size of the area in bytes.
    ///   - version: The label format.
    /// - Returns: An area with both blocks valid, block 0 current, and no labels.
    /// - Throws: `LabelError.areaSizeInvalid` if the area is too small.
    public static func initialized(configSize: Int, version: LabelVersion) throws(LabelError) -> LabelArea {
        try decode(initializedBytes(configSize: configSize, version: version), version: version)
    }
}
