public import DaxPoolCore

/// A region as `daxpool list -R` prints it: the fields `daxctl list -R` prints plus daxpool's own.
public struct RegionInfo: Hashable, Sendable, Codable {
    // daxctl fields
    /// JSON `id`: the region id R of `daxR.N`.
    public var id: Int
    /// JSON `path`: the directory, mount point or sysfs path behind the region.
    public var path: String
    /// JSON `size`: the bytes of memory the region spans.
    public var size: UInt64
    /// Omitted when zero, as daxctl omits it.
    public var availableSize: UInt64?
    /// JSON `align`: as `daxctl list -R` prints it, in bytes: the kernel's `dax_region/align` for devdax, the page
    /// size for the other backends.
    public var align: UInt64
    /// JSON `devices`: the region's settled devices the caller may see, when the listing asked for devices.
    public var devices: [DeviceInfo]?
    // daxpool fields
    /// JSON `backend`: where the memory comes from (`shm`, `hugetlb`, `devdax`, `sim`).
    public var backend: BackendKind
    /// JSON `page_size`: the smallest device alignment, the backend's page size in bytes.
    public var pageSize: UInt64
    /// JSON `target_node`: the NUMA node the memory sits on; absent when unknown.
    public var targetNode: Int?
    /// JSON `largest_available_extent`: the longest contiguous free stretch usable at the page size, in bytes.
    public var largestAvailableExtent: UInt64
    /// JSON `badblock_count`: the number of entries in `badblocks`.
    public var badblockCount: Int
    /// JSON `badblocks`: the region's quarantined ranges as region offsets.
    public var badblocks: [BadBlock]
    /// The region's label storage area, when the daemon keeps one.
    public var labelArea: LabelAreaInfo?
    /// Page metadata the host spends on this memory (64 B per base page, less what HVO frees).
    public var pageMetadata: PageMetadata?
    /// The region's pool of ready memory (shm and hugetlb), when it keeps or holds any.
    public var pool: PoolInfo?
    /// Bytes of destroyed devices waiting for their background scrub: out of `available_size` until it is done.
    /// Omitted when zero.
    public var pendingScrubSize: UInt64?
    /// `degraded` when the region's persisted state is in doubt (its devices keep their memory; nothing is
    /// created or destroyed in it until `daxpool recover`); omitted when the region is sound.
    public var state: String?
    /// Why the region is degraded, and what to run.
    public var degradedReasons: [String]?
    /// JSON `remedy`: the `daxpool recover` commands that rebuild a degraded region; absent when it is sound.
    public var remedy: String?
    /// Files found in the region that no device owned, moved untouched to `<path>/lost+found/`; omitted when none.
    public var lostFound: [LostFileInfo]?
    /// The free gaps of the region in address order (region offsets), what `daxpool map` draws as free; absent
    /// from daemons older than the field.
    public var freeExtents: [FreeExtent]?
    /// JSON `segments`: the sizes of the parts the region's memory is in, in offset order, when there is more than
    /// one (a hugetlb region that grew while devices held its memory: one hugetlbfs mount each); a device lies in
    /// one part, so the largest device that fits is the most free memory of one part. Omitted for one part.
    public var segments: [UInt64]?

    /// A region as listed; `badblock_count` is the number of `badblocks`, and `state` and `remedy` follow from
    /// `degradedReasons` (present means degraded).
    public init(
        id: Int,
        path: String,
        size: UInt64,
        availableSize: UInt64?,
        align: UInt64,
        devices: [DeviceInfo]?,
        backend: BackendKind,
        pageSize: UInt64,
        targetNode: Int?,
        largestAvailableExtent: UInt64,
        badblocks: [BadBlock],
        pageMetadata: PageMetadata? = nil,
        labelArea: LabelAreaInfo? = nil,
        pool: PoolInfo? = nil,
        pendingScrubSize: UInt64? = nil,
        degradedReasons: [String]? = nil,
        lostFound: [LostFileInfo]? = nil,
        freeExtents: [FreeExtent]? = nil,
        segments: [UInt64]? = nil
    ) {
        self.segments = segments
        self.id = id
        self.path = path
        self.size = size
        self.availableSize = availableSize
        self.align = align
        self.devices = devices
        self.backend = backend
        self.pageSize = pageSize
        self.targetNode = targetNode
        self.largestAvailableExtent = largestAvailableExtent
        self.badblockCount = badblocks.count
        self.badblocks = badblocks
        self.pageMetadata = pageMetadata
        self.labelArea = labelArea
        self.pool = pool
        self.pendingScrubSize = pendingScrubSize
        self.state = degradedReasons == nil ? nil : "degraded"
        self.degradedReasons = degradedReasons
        self.remedy = degradedReasons == nil ? nil : RegionDoubt.remedy(region: id)
        self.lostFound = lostFound
        self.freeExtents = freeExtents
    }

    enum CodingKeys: String, CodingKey {
        case id, path, size, align, devices, backend, badblocks, pool
        case availableSize = "available_size"
        case pageSize = "page_size"
        case targetNode = "target_node"
        case largestAvailableExtent = "largest_available_extent"
        case badblockCount = "badblock_count"
        case pageMetadata = "page_metadata"
        case labelArea = "label_area"
        case pendingScrubSize = "pending_scrub_size"
        case state, remedy
        case degradedReasons = "degraded_reasons"
        case lostFound = "lost_found"
        case freeExtents = "free_extents"
        case segments
    }
}

/// A file in a region's `lost+found`: memory no device owned when the daemon started, kept untouched.
public struct LostFileInfo: Hashable, Sendable, Codable {
    /// The file's name in `lost+found`.
    public var name: String
    /// JSON `size`: the file's length in bytes.
    public var size: UInt64

    /// The lost file `name`, `size` bytes long.
    public init(name: String, size: UInt64) {
        self.name = name
        self.size = size
    }
}

/// A quarantined range of a region, as ndctl prints `badblocks` (`offset` and `length` in bytes here).
public struct BadBlock: Hashable, Sendable, Codable {
    /// JSON `offset`: where the range starts, in bytes from the start of the region or device that lists it.
    public var offset: UInt64
    /// JSON `length`: the range's length in bytes.
    public var length: UInt64

    /// The bad range of `length` bytes at `offset`.
    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }
}

/// Where a region's layouts are persisted: a label storage area in the UEFI NVDIMM label format, as
/// `daxpool list -R` prints it (`daxpool read-labels -r R` prints its contents).
public struct LabelAreaInfo: Hashable, Sendable, Codable {
    /// The file holding the area.
    public var path: String
    /// Where the area starts in the file.
    public var offset: UInt64
    /// The size of the area in bytes.
    public var size: UInt64
    /// The label format, `1.1` or `1.2`.
    public var version: String
    /// The number of label slots.
    public var nslot: Int
    /// The free label slots (each device range takes one; an update needs free slots for both passes).
    public var free: Int

    /// A label area with every field given.
    public init(path: String, offset: UInt64, size: UInt64, version: String, nslot: Int, free: Int) {
        self.path = path
        self.offset = offset
        self.size = size
        self.version = version
        self.nslot = nslot
        self.free = free
    }
}

/// A region's pool of ready memory: zeroed files whose pages are allocated, which a new device of exactly their
/// size takes at once.
public struct PoolInfo: Hashable, Sendable, Codable {
    /// The sizes the region keeps filled (`create-region --pool`, `set-pool`), one entry per file.
    public var target: [UInt64]
    /// The sizes of the files ready now, smallest first: the target's, and scrubbed memory of destroyed devices.
    public var ready: [UInt64]
    /// The memory the ready files hold.
    public var readyBytes: UInt64

    /// A pool keeping `target` with `ready` files now; `ready_bytes` is their sum.
    public init(target: [UInt64], ready: [UInt64]) {
        self.target = target
        self.ready = ready
        self.readyBytes = ready.reduce(0, &+)
    }

    enum CodingKeys: String, CodingKey {
        case target, ready
        case readyBytes = "ready_bytes"
    }
}
