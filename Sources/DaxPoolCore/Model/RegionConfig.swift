/// What daxpool needs to rebuild a region: its backend, size, alignments, node and backing path.
public struct RegionConfig: Hashable, Sendable, Codable {
    /// The region id R of `daxR.N`.
    public var id: Int
    /// Where the region's memory comes from (JSON `backend`).
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
    /// The sizes of the ready files the region's pool keeps filled (file backends): a new device of one of these
    /// sizes gets memory that is already allocated and zero. Each size appears as often as files of it are kept.
    public var pool: [ByteCount]
    /// The sizes of the parts the region's memory is held in, in offset order, adding up to `size`, when there is
    /// more than one; empty for a region of one part (JSON `segments`, omitted then). A hugetlb region that grew
    /// while its devices held memory is one hugetlbfs mount per part, and a device's file lies on one mount, so
    /// every device lies in one part: the allocator treats the parts' boundaries as barriers.
    public var segments: [ByteCount] = []

    /// A region config with every field given; `targetNode` and `base` default to unknown and `pool` to empty.
    public init(
        id: Int,
        backend: BackendKind,
        size: ByteCount,
        align: Alignment,
        pageSize: Alignment,
        targetNode: Int? = nil,
        path: String,
        base: UInt64? = nil,
        pool: [ByteCount] = []
    ) {
        self.id = id
        self.backend = backend
        self.size = size
        self.align = align
        self.pageSize = pageSize
        self.targetNode = targetNode
        self.path = path
        self.base = base
        self.pool = pool
    }

    enum CodingKeys: String, CodingKey {
        case id, backend, size, align, path, base, pool, segments
        case pageSize = "page_size"
        case targetNode = "target_node"
    }

    /// Decodes configs written by any daxpool version: `pool` and `segments` may be missing.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int.self, forKey: .id)
        backend = try container.decode(BackendKind.self, forKey: .backend)
        size = try container.decode(ByteCount.self, forKey: .size)
        align = try container.decode(Alignment.self, forKey: .align)
        pageSize = try container.decode(Alignment.self, forKey: .pageSize)
        targetNode = try container.decodeIfPresent(Int.self, forKey: .targetNode)
        path = try container.decode(String.self, forKey: .path)
        base = try container.decodeIfPresent(UInt64.self, forKey: .base)
        pool = try container.decodeIfPresent([ByteCount].self, forKey: .pool) ?? []
        segments = try container.decodeIfPresent([ByteCount].self, forKey: .segments) ?? []
    }

    /// Encodes every field, leaving out `target_node` and `base` when unknown and `pool` and `segments` when empty.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(backend, forKey: .backend)
        try container.encode(size, forKey: .size)
        try container.encode(align, forKey: .align)
        try container.encode(pageSize, forKey: .pageSize)
        try container.encodeIfPresent(targetNode, forKey: .targetNode)
        try container.encode(path, forKey: .path)
        try container.encodeIfPresent(base, forKey: .base)
        if !pool.isEmpty { try container.encode(pool, forKey: .pool) }
        if !segments.isEmpty { try container.encode(segments, forKey: .segments) }
    }

    /// The region offsets where a part of the region's memory begins, other than 0 (`segments`): empty for a
    /// region of one part.
    public var segmentBoundaries: [UInt64] {
        guard segments.count > 1 else { return [] }
        var boundaries: [UInt64] = []
        var offset: UInt64 = 0
        for part in segments.dropLast() {
            offset += part.rawValue
            boundaries.append(offset)
        }
        return boundaries
    }

    /// Why `segments` does not describe this region (parts of zero bytes or not whole pages, or not adding up to
    /// `size`), or `nil` when it does.
    public func segmentsProblem() -> String? {
        guard !segments.isEmpty else { return nil }
        var total: UInt64 = 0
        for part in segments {
            guard part.rawValue > 0, part.isAligned(to: pageSize) else {
                return "segment size \(part.rawValue) bytes is not a whole, non-zero number of \(pageSize) pages"
            }
            let (sum, overflow) = total.addingReportingOverflow(part.rawValue)
            guard !overflow else { return "the segments add up to more than a byte count holds" }
            total = sum
        }
        guard total == size.rawValue else {
            return "the segments add up to \(total) bytes, not the region's \(size.rawValue)"
        }
        return nil
    }

    /// The most files a region's pool may name.
    public static let maximumPoolFiles = 256

    /// Checks `pool` against the region: at most `maximumPoolFiles` sizes, each a non-zero whole number of pages,
    /// all together no more than the region.
    /// - Returns: why the pool is wrong, or `nil` when it is right.
    public func poolProblem() -> String? {
        guard pool.count <= Self.maximumPoolFiles else {
            return "a pool of \(pool.count) files is more than the \(Self.maximumPoolFiles) a region may keep"
        }
        var total = ByteCount.zero
        for size in pool {
            guard size.rawValue > 0, size.isAligned(to: pageSize) else {
                return "pool size \(size.rawValue) bytes is not a whole number of the region's \(pageSize) pages"
            }
            guard let sum = total.adding(size), sum <= self.size else {
                return "the pool's files add up to more than the region's \(self.size.rawValue) bytes"
            }
            total = sum
        }
        return nil
    }
}

/// A device's identity and settings; its ranges live in the region's allocator.
public struct DeviceRecord: Hashable, Sendable, Codable {
    /// The device's id `daxR.N` (JSON `id`, a string).
    public var id: DeviceID
    /// The device's uuid, as its namespace label carries it (JSON `uuid`, 8-4-4-4-12 hex).
    public var uuid: LabelUUID
    /// The user-chosen name, when the device has one (JSON `name`).
    public var name: DeviceName?
    /// The device's alignment in bytes: every range starts and ends on it (JSON `align`).
    public var align: Alignment
    /// Whether a VMM may open the device, or whether it is lent to the host (JSON `state`).
    public var state: DeviceState
    /// The uid that owns the device (its creator, or the owner an administrator named). `nil` only in state
    /// written before devices had owners: the daemon gives such devices its own uid when it loads them.
    public var owner: UInt32?
    /// The processes holding the device, in the order they took their leases.
    public var leases: [Lease]

    /// A device record with every field given; `owner` defaults to unknown and `leases` to none.
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

    /// Encodes every field, leaving out `name` and `owner` when absent and `leases` when empty.
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
