/// One constituent range of a device, as sysfs `mappingN/` shows it: `start` and `end` (inclusive) are
/// region offsets (physical addresses for devdax), `pageOffset` counts 4 KiB pages from the device start.
public struct DeviceMapping: Hashable, Sendable, Codable {
    public var pageOffset: UInt64
    public var start: UInt64
    public var end: UInt64
    public var size: UInt64

    public init(pageOffset: UInt64, start: UInt64, end: UInt64, size: UInt64) {
        self.pageOffset = pageOffset
        self.start = start
        self.end = end
        self.size = size
    }

    /// The mappings of a device made of `extents` in device order, with addresses shifted by `base`.
    public static func mappings(of extents: [Extent], base: UInt64 = 0) -> [DeviceMapping] {
        var pages: UInt64 = 0
        return extents.map { extent in
            defer { pages += extent.length.rawValue >> 12 }
            return DeviceMapping(
                pageOffset: pages,
                start: base &+ extent.start.rawValue,
                end: base &+ extent.lastByte.rawValue,
                size: extent.length.rawValue
            )
        }
    }

    enum CodingKeys: String, CodingKey {
        case pageOffset = "page_offset"
        case start, end, size
    }
}
