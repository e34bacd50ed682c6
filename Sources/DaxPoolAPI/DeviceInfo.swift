public import DaxPoolCore

/// A device as `daxpool list` prints it: the fields `daxctl list` prints plus daxpool's own.
public struct DeviceInfo: Hashable, Sendable, Codable {
    // daxctl fields
    public var chardev: String
    public var size: UInt64
    public var targetNode: Int?
    public var align: UInt64
    public var mode: String
    /// Present with `-M`.
    public var mappings: [DeviceMapping]?
    /// system-ram mode only (a lent device), as `daxctl list` prints them: whether its memory blocks are in
    /// ZONE_MOVABLE, and how many of them are online out of how many it spans.
    public var movable: Bool?
    public var onlineMemblocks: Int?
    public var totalMemblocks: Int?
    // daxpool fields
    public var path: String?
    public var uuid: String
    public var name: String?
    public var state: DeviceState
    public var backend: BackendKind
    /// Bad ranges inside the device, as device offsets (as ndctl shows a namespace's badblocks).
    public var badblockCount: Int
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
    public var pid: Int32
    public var uid: UInt32

    public init(pid: Int32, uid: UInt32) {
        self.pid = pid
        self.uid = uid
    }
}
