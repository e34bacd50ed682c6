/// One region as `daxpool map` draws it: its offset space from 0 to `size`, the devices in it, its free gaps and
/// its bad blocks. Built from what the daemon lists; the renderers take it and return text.
public struct RegionMap: Hashable, Sendable {
    /// The region id (`R` in `daxR.N`).
    public var id: Int
    /// The backend's name (`shm`, `hugetlb`, `devdax`, `sim`).
    public var backend: String
    /// The region's size: its offsets run from 0 to `size`.
    public var size: ByteCount
    /// The region's page size: the grid marks fall on its multiples.
    public var pageSize: ByteCount
    /// The devices the caller may see, in the order the legend lists them.
    public var devices: [MapDevice]
    /// The free gaps (region offsets). `nil` when the daemon does not report them: then whatever no device and no
    /// bad block holds is drawn as free.
    public var freeExtents: [Extent]?
    /// The region's bad blocks (region offsets).
    public var badBlocks: [Extent]
    /// Memory of destroyed devices waiting for its scrub: part of what is held but not listed.
    public var scrubbing: ByteCount
    /// A word the title shows after the region, such as `degraded`; `nil` for a sound region.
    public var condition: String?

    /// A region map; no bad blocks, nothing scrubbing and a sound condition unless given.
    /// A region's map; `badBlocks`, `scrubbing` and `condition` default to none.
    public init(
        id: Int,
        backend: String,
        size: ByteCount,
        pageSize: ByteCount,
        devices: [MapDevice],
        freeExtents: [Extent]?,
        badBlocks: [Extent] = [],
        scrubbing: ByteCount = .zero,
        condition: String? = nil
    ) {
        self.id = id
        self.backend = backend
        self.size = size
        self.pageSize = pageSize
        self.devices = devices
        self.freeExtents = freeExtents
        self.badBlocks = badBlocks
        self.scrubbing = scrubbing
        self.condition = condition
    }
}

/// A device as the map draws it: its ranges as region offsets, in device order.
public struct MapDevice: Hashable, Sendable {
    /// `daxR.N`.
    public var chardev: String
    /// The name it was created with, if any.
    public var name: String?
    /// Its ranges as region offsets, in device order (a discontiguous device has several).
    public var ranges: [Extent]
    /// A word the legend shows after the device, such as `disabled` or `lent`; `nil` for an enabled device.
    public var condition: String?

    /// Device `chardev` with `ranges` in device order; no name and an enabled condition unless given.
    /// A device of `ranges`, enabled unless `condition` says otherwise.
    public init(chardev: String, name: String? = nil, ranges: [Extent], condition: String? = nil) {
        self.chardev = chardev
        self.name = name
        self.ranges = ranges
        self.condition = condition
    }

    /// The sum of its ranges.
    public var size: ByteCount { ByteCount(ranges.reduce(0) { $0 &+ $1.length.rawValue }) }

    /// `daxR.N name`, or `daxR.N` for a device without a name.
    public var label: String { name.map { "\(chardev) \($0)" } ?? chardev }
}
