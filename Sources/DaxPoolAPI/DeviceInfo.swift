public import DaxPoolCore

/// A device as `daxpool list` prints it: the fields `daxctl list` prints plus daxpool's own.
public struct DeviceInfo: Hashable, Sendable, Codable {
    // daxctl fields
    /// JSON `chardev`: the device's name `daxR.N`.
    public var chardev: String
    /// JSON `size`: the device's size in bytes.
    public var size: UInt64
    /// JSON `target_node`: the NUMA node the memory sits on; absent when unknown.
    public var targetNode: Int?
    /// JSON `align`: the device's alignment in bytes (4096, 2097152 or 1073741824).
    public var align: UInt64
    /// JSON `mode`: `devdax`, or `system-ram` while the device is lent to the host.
    public var mode: String
    /// Present with `-M`.
    public var mappings: [DeviceMapping]?
    /// system-ram mode only (a lent device), as `daxctl list` prints them: whether its memory blocks are in
    /// ZONE_MOVABLE, and how many of them are online out of how many it spans.
    public var movable: Bool?
    /// JSON `online_memblocks`: how many of the device's memory blocks are online (lent devices only).
    public var onlineMemblocks: Int?
    /// JSON `total_memblocks`: how many memory blocks the device's memory spans (lent devices only).
    public var totalMemblocks: Int?
    // daxpool fields
    /// JSON `path`: the file a VMM opens for the device; absent for backends without one (`sim`).
    public var path: String?
    /// JSON `uuid`: the device's uuid, 8-4-4-4-12 hex.
    public var uuid: String
    /// JSON `name`: the device's user-chosen name; absent when it has none.
    public var name: String?
    /// JSON `state`: `enabled`, `disabled` or `lent`.
    public var state: DeviceState
    /// JSON `backend`: where the memory comes from (`shm`, `hugetlb`, `devdax`, `sim`).
    public var backend: BackendKind
    /// Bad ranges inside the device, as device offsets (as ndctl shows a namespace's badblocks).
    public var badblockCount: Int
    /// JSON `badblocks`: the bad ranges, each an `offset` from the device's start and a `length`, in bytes.
    public var badblocks: [BadBlock]
    /// The uid that owns the device.
    public var owner: UInt32
    /// The processes holding the device.
    public var leases: [LeaseInfo]
    /// The bytes the device's memory holds beyond its size, when its owner grew its file (`ftruncate`,
    /// `fallocate`); absent otherwise. Cut back when the device is destroyed.
    public var excessSize: UInt64?
    /// JSON `usable_size`: the bytes from the device's start a VMM may use, when daxpool keeps the rest: a static
    /// (pmem) region's device, whose last 2 MiB (at least its alignment) hold the copy of the region's layout for a
    /// live update. Absent when all of `size` is the VMM's.
    public var usableSize: UInt64?

    /// A device as listed; `mode` starts as `devdax` and `badblock_count` is the number of `badblocks`.
    public init(
        chardev: String,
        size: UInt64,
        targetNode: Int?,
        align: UInt64,
        mappings: [DeviceMapping]?,
        path: String?,
        uuid: String,
        name: String?,
        state: DeviceState,
        backend: BackendKind,
        badblocks: [BadBlock] = [],
        owner: UInt32 = 0,
        leases: [LeaseInfo] = [],
        excessSize: UInt64? = nil,
        usableSize: UInt64? = nil
    ) {
        self.chardev = chardev
        self.size = size
        self.targetNode = targetNode
        self.align = align
        self.mode = "devdax"
        self.mappings = mappings
        self.path = path
        self.uuid = uuid
        self.name = name
        self.state = state
        self.backend = backend
        self.badblockCount = badblocks.count
        self.badblocks = badblocks
        self.owner = owner
        self.leases = leases
        self.excessSize = excessSize
        self.usableSize = usableSize
    }

    enum CodingKeys: String, CodingKey {
        case chardev, size, align, mode, mappings, path, uuid, name, state, backend, badblocks, owner, leases
        case movable
        case onlineMemblocks = "online_memblocks"
        case totalMemblocks = "total_memblocks"
        case targetNode = "target_node"
        case badblockCount = "badblock_count"
        case excessSize = "excess_size"
        case usableSize = "usable_size"
    }
}

/// A process holding a device, as `list` shows it.
public struct LeaseInfo: Hashable, Sendable, Codable {
    /// JSON `pid`: the holder's process id.
    public var pid: Int32
    /// JSON `uid`: the holder's real uid when it took the lease.
    public var uid: UInt32

    /// A lease held by process `pid` running as uid `uid`.
    public init(pid: Int32, uid: UInt32) {
        self.pid = pid
        self.uid = uid
    }
}
