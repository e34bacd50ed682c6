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
    /// The uid that owns the device (its creator, or the owner an administrator named). `nil` only in state
    /// written before devices had owners: the daemon gives such devices its own uid when it loads them.
    public var owner: UInt32?
    /// The processes holding the device, in the order they took their leases.
    public var leases: [Lease]

    public init(
        id: DeviceID,
        uuid: LabelUUID,
        name: DeviceName?,
        align: Alignment,
        state: DeviceState,
        owner: UInt32? = nil,
        leases: [Lease] = []
    ) {
        self.id = id
        self.uuid = uuid
        self.name = name
        self.align = align
        self.state = state
        self.owner = owner
        self.leases = leases
    }

    enum CodingKeys: String, CodingKey {
        case id, uuid, name, align, state, owner, leases
    }

    /// Decodes state written by any daxpool version: `owner` and `leases` may be missing.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(DeviceID.self, forKey: .id)
        uuid = try container.decode(LabelUUID.self, forKey: .uuid)
        name = try container.decodeIfPresent(DeviceName.self, forKey: .name)
        align = try container.decode(Alignment.self, forKey: .align)
        state = try container.decode(DeviceState.self, forKey: .state)
        owner = try container.decodeIfPresent(UInt32.self, forKey: .owner)
        leases = try container.decodeIfPresent([Lease].self, forKey: .leases) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(uuid, forKey: .uuid)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encode(align, forKey: .align)
        try container.encode(state, forKey: .state)
        try container.encodeIfPresent(owner, forKey: .owner)
        if !leases.isEmpty { try container.encode(leases, forKey: .leases) }
    }
}
