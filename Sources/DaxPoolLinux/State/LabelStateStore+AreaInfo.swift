// Linux only.
import DaxPoolCore

extension LabelStateStore {
    /// A region's label storage area as `daxpool list -R` shows it (`label_area`).
    public struct AreaInfo: Hashable, Sendable {
        /// The file holding the area.
        public var path: String
        /// Where the area starts in the file.
        public var offset: Int
        /// The size of the area in bytes (`config_size`).
        public var size: Int
        /// The label format, `1.1` or `1.2`.
        public var version: String
        /// The number of label slots (`nslot` of the current index block).
        public var slotCount: Int
        /// The number of free slots in the current index block.
        public var freeSlots: Int

        /// Creates the description of an area.
        ///
        /// - Parameters:
        ///   - path: The file holding the area.
        ///   - offset: Where the area starts in the file.
        ///   - size: The size of the area.
        ///   - version: `1.1` or `1.2`.
        ///   - slotCount: `nslot`.
        ///   - freeSlots: The free slots.
        public init(path: String, offset: Int, size: Int, version: String, slotCount: Int, freeSlots: Int) {
            self.path = path
            self.offset = offset
            self.size = size
            self.version = version
            self.slotCount = slotCount
            self.freeSlots = freeSlots
        }

        /// The description of the area a store holds.
        init(_ store: LabelStore<FileLabelStorage>) {
            self.init(
                path: store.storage.path,
                offset: store.storage.offset,
                size: store.storage.size,
                version: store.version.description,
                slotCount: Int(store.area.currentIndex.slotCount),
                freeSlots: store.freeSlotCount
            )
        }
    }
}
