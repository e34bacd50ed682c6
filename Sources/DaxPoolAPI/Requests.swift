public import DaxPoolCore

/// `POST /v1/regions`.
public struct CreateRegionRequest: Hashable, Sendable, Codable {
    public var backend: BackendKind
    /// Bytes, or a string with a k/m/g/t suffix. Optional for devdax (the kernel region's size is used).
    public var size: SizeValue?
    /// Backing directory (shm) or mount point (hugetlb).
    public var path: String?
    /// `4K`, `2M` or `1G` (hugetlb page size).
    public var pageSize: String?
    public var node: Int?
    /// devdax: the kernel dax region to adopt (its id becomes the region id).
    public var daxRegion: Int?
    /// shm and hugetlb: the sizes of the ready (zeroed, allocated) files the region's pool keeps, one entry per
    /// file, so that a device of such a size is ready at once.
    public var pool: [SizeValue]?
    /// hugetlb: `"on"` turns HugeTLB Vmemmap Optimization on (system-wide) before the pages are reserved when it is
    /// off; `"off"` accepts the full page metadata when it is off. Omitted while HVO is off: the region is refused
    /// (409 `hvo_off`), naming both costs.
    public var hvo: String?

    public init(
        backend: BackendKind,
        size: SizeValue? = nil,
        path: String? = nil,
        pageSize: String? = nil,
        node: Int? = nil,
        daxRegion: Int? = nil,
        pool: [SizeValue]? = nil,
        hvo: String? = nil
    ) {
        self.backend = backend
        self.size = size
        self.path = path
        self.pageSize = pageSize
        self.node = node
        self.daxRegion = daxRegion
        self.pool = pool
        self.hvo = hvo
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case backend, size, path, node, pool, hvo
        case pageSize = "page_size"
        case daxRegion = "dax_region"
    }
}

extension CreateRegionRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `PUT /v1/regions/{region}/pool`: the sizes of the ready files the region's pool keeps from now on (an empty
/// list keeps none: files already ready stay until memory is needed).
public struct SetPoolRequest: Hashable, Sendable, Codable {
    public var pool: [SizeValue]

    public init(pool: [SizeValue]) {
        self.pool = pool
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pool
    }
}

extension SetPoolRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/devices`.
public struct CreateDeviceRequest: Hashable, Sendable, Codable {
    public var region: Int?
    /// Omitted: all the region's available memory (daxctl's default); with `mappings`: their sum.
    public var size: SizeValue?
    public var align: SizeValue?
    public var name: String?
    public var uuid: String?
    /// An exact layout to rebuild (from `list -M` output), in page-offset order.
    public var mappings: [MappingRequest]?
    /// The uid that will own the device (administrators only; default: the caller).
    public var owner: UInt32?

    public init(
        region: Int? = nil,
        size: SizeValue? = nil,
        align: SizeValue? = nil,
        name: String? = nil,
        uuid: String? = nil,
        mappings: [MappingRequest]? = nil,
        owner: UInt32? = nil
    ) {
        self.region = region
        self.size = size
        self.align = align
        self.name = name
        self.uuid = uuid
        self.mappings = mappings
        self.owner = owner
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, size, align, name, uuid, mappings, owner
    }
}

extension CreateDeviceRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys {
        RequestKeys(CodingKeys.self, nested: [CodingKeys.mappings.stringValue: MappingRequest.requestKeys])
    }
}

/// One range of an explicit layout: `start` and `end` inclusive, `page_offset` optional (used to order).
public struct MappingRequest: Hashable, Sendable, Codable {
    public var pageOffset: UInt64?
    public var start: UInt64
    public var end: UInt64

    public init(pageOffset: UInt64?, start: UInt64, end: UInt64) {
        self.pageOffset = pageOffset
        self.start = start
        self.end = end
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case start, end
        case pageOffset = "page_offset"
    }
}

extension MappingRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `PATCH /v1/devices/{device}`.
public struct ReconfigureDeviceRequest: Hashable, Sendable, Codable {
    public var size: SizeValue?
    public var align: SizeValue?
    public var force: Bool?

    public init(size: SizeValue? = nil, align: SizeValue? = nil, force: Bool? = nil) {
        self.size = size
        self.align = align
        self.force = force
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case size, align, force
    }
}

extension ReconfigureDeviceRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/devices/{device}/leases`: take a lease for a process (default: the caller's pid).
public struct LeaseRequest: Hashable, Sendable, Codable {
    public var pid: Int32?

    public init(pid: Int32? = nil) {
        self.pid = pid
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pid
    }
}

extension LeaseRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `GET /v1/health`.
public struct HealthResponse: Hashable, Sendable, Codable {
    public var status: String
    public var pid: Int32
    public var version: String

    public init(status: String, pid: Int32, version: String) {
        self.status = status
        self.pid = pid
        self.version = version
    }
}

/// `POST /v1/errors`: report a memory error (operators and tests), by device offset or region offset.
public struct InjectErrorRequest: Hashable, Sendable, Codable {
    public var device: String?
    public var offset: SizeValue?
    public var region: Int?
    public var regionOffset: SizeValue?
    public var length: SizeValue
    /// The granule to quarantine in (`4K` default, `2M`, `1G`).
    public var granule: SizeValue?

    public init(
        device: String? = nil,
        offset: SizeValue? = nil,
        region: Int? = nil,
        regionOffset: SizeValue? = nil,
        length: SizeValue,
        granule: SizeValue? = nil
    ) {
        self.device = device
        self.offset = offset
        self.region = region
        self.regionOffset = regionOffset
        self.length = length
        self.granule = granule
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case device, offset, region, length, granule
        case regionOffset = "region_offset"
    }
}

extension InjectErrorRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/errors/clear`: forget bad blocks in a range after it was scrubbed and verified.
public struct ClearErrorsRequest: Hashable, Sendable, Codable {
    public var region: Int
    public var regionOffset: SizeValue
    public var length: SizeValue

    public init(region: Int, regionOffset: SizeValue, length: SizeValue) {
        self.region = region
        self.regionOffset = regionOffset
        self.length = length
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, length
        case regionOffset = "region_offset"
    }
}

extension ClearErrorsRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// The answer to `POST /v1/errors/clear`.
public struct ClearErrorsResponse: Hashable, Sendable, Codable {
    public var cleared: Int
    public var region: RegionInfo

    public init(cleared: Int, region: RegionInfo) {
        self.cleared = cleared
        self.region = region
    }
}

/// The body of `POST /v1/recover`: which region to rebuild (default: every degraded region), and whether to do it
/// (`apply`) or only show how (the default).
public struct RecoverRequest: Hashable, Sendable, Codable {
    public var region: Int?
    public var apply: Bool?

    public init(region: Int? = nil, apply: Bool? = nil) {
        self.region = region
        self.apply = apply
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, apply
    }
}

extension RecoverRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// The answer to `POST /v1/recover`: one plan per region.
public struct RecoverResponse: Hashable, Sendable, Codable {
    public var regions: [RegionRecovery]

    public init(regions: [RegionRecovery]) {
        self.regions = regions
    }
}

/// How one region is (or was) rebuilt from what survives.
public struct RegionRecovery: Hashable, Sendable, Codable {
    public var region: Int
    /// Why the region was in doubt (empty when it was not).
    public var reasons: [String]
    /// Each decision with its reason.
    public var decisions: [RecoveryDecision]
    /// Whether the rebuild was committed (`--apply`).
    public var applied: Bool
    /// The devices as rebuilt.
    public var devices: [DeviceInfo]

    public init(region: Int, reasons: [String], decisions: [RecoveryDecision], applied: Bool, devices: [DeviceInfo]) {
        self.region = region
        self.reasons = reasons
        self.decisions = decisions
        self.applied = applied
        self.devices = devices
    }
}
