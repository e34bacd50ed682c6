/// What daxpool needs to rebuild a region: its backend, size, alignments, node and backing path.
public struct RegionConfig: Hashable, Sendable, Codable {
    /// The region id R of `daxR.N`.
    public var id: Int
    public var backend: BackendKind
    /// Bytes of memory the region spans (the capacity budget for `shm`).
    public var size: ByteCount
    /// The largest device alignment the region supports (daxctl's region `align`).
    public var align: Alignment
    /// The smallest device alignment: the backend's page size (4K for shm, 2M/1G for hugetlb).
    public var pageSize: Alignment
    /// The NUMA node the memory sits on, if known.
    public var targetNode: Int?
    /// The directory, mount point or sysfs path behind the region.
    public var path: String
    /// The physical address of region offset 0, for backends whose mappings are physical (devdax); `nil` for the
    /// others, whose region offsets are their own. `list -M` shows `start`/`end` as `base + offset`.
    public var base: UInt64?

    public init(
        id: Int,
        backend: BackendKind,
        size: ByteCount,
        align: Alignment,
        pageSize: Alignment,
        targetNode: Int? = nil,
        path: String,
        base: UInt64? = nil
    ) {
        self.id = id
        self.backend = backend
        self.size = size
        self.align = align
        self.pageSize = pageSize
        self.targetNode = targetNode
        self.path = path
        self.base = base
    }

    enum CodingKeys: String, CodingKey {
        case id, backend, size, align, path, base
        case pageSize = "page_size"
        case targetNode = "target_node"
    }
}

/// A device's identity and settings; its ranges live in the region's allocator.
public struct DeviceRecord: Hashable, Sendable, Codable {
    public var id: DeviceID
    public var uuid: LabelUUID
    public var name: DeviceName?
    public var align: Alignment
    public var state: DeviceState

    public init(id: DeviceID, uuid: LabelUUID, name: DeviceName?, align: Alignment, state: DeviceState) {
        self.id = id
        self.uuid = uuid
        self.name = name
        self.align = align
        self.state = state
    }
}
