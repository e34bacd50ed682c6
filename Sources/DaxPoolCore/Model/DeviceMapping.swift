/// One constituent range of a device, as sysfs `mappingN/` shows it: `start` and `end` (inclusive) are
/// region offsets (physical addresses for devdax), `pageOffset` counts 4 KiB pages from the device start.
public struct DeviceMapping: Hashable, Sendable, Codable {
    /// JSON `page_offset`: where the range starts inside the device, in 4 KiB pages.
    public var pageOffset: UInt64
    /// JSON `start`: the range's first byte, as a region offset or (devdax) a physical address.
    public var start: UInt64
    /// JSON `end`: the range's last byte (inclusive), in the same terms as `start`.
    public var end: UInt64
    /// JSON `size`: the range's length in bytes.
    public var size: UInt64
    /// The range's region offset where `start` is a physical address (devdax); absent where `start` is the region
    /// offset itself, and from daemons older than the field.
    public var offset: UInt64?

    /// A mapping with every field given; `offset` defaults to absent (`start` is the region offset).
    public init(pageOffset: UInt64, start: UInt64, end: UInt64, size: UInt64, offset: UInt64? = nil) {
        self.pageOffset = pageOffset
        self.start = start
        self.end = end
        self.size = size
        self.offset = offset
    }

    /// The range's region offset: `offset` when the daemon gave one, else `start`.
    public var regionOffset: UInt64 { offset ?? start }

    /// The mappings of a device made of `extents` in device order, with addresses shifted by `base` (each then
    /// carries its region offset in `offset`).
    public static func mappings(of extents: [Extent], base: UInt64 = 0) -> [DeviceMapping] {
        var pages: UInt64 = 0
        return extents.map { extent in
            defer { pages += extent.length.rawValue >> 12 }
            return DeviceMapping(
                pageOffset: pages,
                start: base &+ extent.start.rawValue,
                end: base &+ extent.lastByte.rawValue,
                size: extent.length.rawValue,
                offset: base == 0 ? nil : extent.start.rawValue
            )
        }
    }

    enum CodingKeys: String, CodingKey {
        case pageOffset = "page_offset"
        case start, end, size, offset
    }
}
