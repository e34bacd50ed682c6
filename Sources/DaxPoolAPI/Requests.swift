public import DaxPoolCore

/// `POST /v1/regions`.
public struct CreateRegionRequest: Hashable, Sendable, Codable {
    /// JSON `backend`: where the region's memory comes from (`shm`, `hugetlb`, `devdax`, `sim`).
    public var backend: BackendKind
    /// JSON `size`: bytes, or a size string such as `"64G"`. Optional for devdax (the kernel region's size is used).
    public var size: ByteCount?
    /// Backing directory (shm) or mount point (hugetlb).
    public var path: String?
    /// JSON `page_size`: `"4K"`, `"2M"` or `"1G"` (a string; the hugetlb page size); absent for the backend's
    /// default (2M for hugetlb, 4K otherwise).
    public var pageSize: Alignment?
    /// JSON `node`: the NUMA node to take the memory from; absent for no binding.
    public var node: Int?
    /// devdax: the kernel dax region to adopt (its id becomes the region id).
    public var daxRegion: Int?
    /// shm and hugetlb: the sizes of the ready (zeroed, allocated) files the region's pool keeps, one entry per
    /// file, so that a device of such a size is ready at once.
    public var pool: [ByteCount]?
    /// hugetlb: `"on"` turns HugeTLB Vmemmap Optimization on (system-wide) before the pages are reserved when it is
    /// off; `"off"` accepts the full page metadata when it is off. Omitted while HVO is off: the region is refused
    /// (409 `hvo_off`), naming both costs.
    public var hvo: String?

    /// A request for a region of `backend`; every other field defaults to absent.
    public init(
        backend: BackendKind,
        size: ByteCount? = nil,
        path: String? = nil,
        pageSize: Alignment? = nil,
        node: Int? = nil,
        daxRegion: Int? = nil,
        pool: [ByteCount]? = nil,
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

    /// Decodes a body, checking its sizes and page size as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        backend = try container.decode(BackendKind.self, forKey: .backend)
        size = try container.decodeSizeIfPresent(forKey: .size)
        path = try container.decodeIfPresent(String.self, forKey: .path)
        pageSize = try container.decodePageSizeIfPresent(forKey: .pageSize)
        node = try container.decodeIfPresent(Int.self, forKey: .node)
        daxRegion = try container.decodeIfPresent(Int.self, forKey: .daxRegion)
        pool = try container.decodeSizesIfPresent(forKey: .pool)
        hvo = try container.decodeIfPresent(String.self, forKey: .hvo)
    }

    /// Encodes the sizes as byte integers and the page size as `"4K"`, `"2M"` or `"1G"`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(backend, forKey: .backend)
        try container.encodeIfPresent(size, forKey: .size)
        try container.encodeIfPresent(path, forKey: .path)
        try container.encodeIfPresent(pageSize?.description, forKey: .pageSize)
        try container.encodeIfPresent(node, forKey: .node)
        try container.encodeIfPresent(daxRegion, forKey: .daxRegion)
        try container.encodeIfPresent(pool, forKey: .pool)
        try container.encodeIfPresent(hvo, forKey: .hvo)
    }
}

extension CreateRegionRequest: KeyedRequestBody {
    /// `backend`, `size`, `path`, `page_size`, `node`, `dax_region`, `pool` and `hvo`; the daemon refuses any other
    /// key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `PUT /v1/regions/{region}/pool`: the sizes of the ready files the region's pool keeps from now on (an empty
/// list keeps none: files already ready stay until memory is needed).
public struct SetPoolRequest: Hashable, Sendable, Codable {
    /// JSON `pool`: the sizes of the ready files to keep, one entry per file (size strings or byte integers).
    public var pool: [ByteCount]

    /// A request to keep `pool`.
    public init(pool: [ByteCount]) {
        self.pool = pool
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pool
    }

    /// Decodes a body, checking each size as it goes.
    /// - Throws: `DecodingError` naming the entry (`pool[2]`) and the size grammar for a size of the wrong form.
    public init(from decoder: any Decoder) throws {
        pool = try decoder.container(keyedBy: CodingKeys.self).decodeSizes(forKey: .pool)
    }
}

extension SetPoolRequest: KeyedRequestBody {
    /// `pool` only; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/devices`.
public struct CreateDeviceRequest: Hashable, Sendable, Codable {
    /// JSON `region`: the region to allocate from; absent for the first region with room.
    public var region: Int?
    /// JSON `size`: bytes or a size string. Omitted: all the region's available memory (daxctl's default); with
    /// `mappings`: their sum.
    public var size: ByteCount?
    /// JSON `align`: the device alignment, `4K`, `2M`, `1G` or bytes (encoded as bytes); absent for 2 MiB, lowered
    /// to the region's largest alignment and raised to its page size where those demand it.
    public var align: Alignment?
    /// JSON `name`: the device's name (1 to 63 bytes, checked with every rule of `DeviceName(validating:)`); absent
    /// for none.
    public var name: DeviceName?
    /// JSON `uuid`: the device's uuid in 8-4-4-4-12 hex, not all zero; absent for a new random one.
    public var uuid: LabelUUID?
    /// An exact layout to rebuild (from `list -M` output), in page-offset order.
    public var mappings: [MappingRequest]?
    /// The uid that will own the device (administrators only; default: the caller).
    public var owner: UInt32?

    /// A device request; every field defaults to absent.
    public init(
        region: Int? = nil,
        size: ByteCount? = nil,
        align: Alignment? = nil,
        name: DeviceName? = nil,
        uuid: LabelUUID? = nil,
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

    /// Decodes a body, checking its size, alignment, name and uuid as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        region = try container.decodeIfPresent(Int.self, forKey: .region)
        size = try container.decodeSizeIfPresent(forKey: .size)
        align = try container.decodeAlignmentIfPresent(forKey: .align)
        name = try container.decodeDeviceNameIfPresent(forKey: .name)
        uuid = try container.decodeDeviceUUIDIfPresent(forKey: .uuid)
        mappings = try container.decodeIfPresent([MappingRequest].self, forKey: .mappings)
        owner = try container.decodeIfPresent(UInt32.self, forKey: .owner)
    }
}

extension CreateDeviceRequest: KeyedRequestBody {
    /// `region`, `size`, `align`, `name`, `uuid`, `mappings` and `owner`, and each mapping's `start`, `end`,
    /// `page_offset`, `size` and `offset`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys {
        RequestKeys(CodingKeys.self, nested: [CodingKeys.mappings.stringValue: MappingRequest.requestKeys])
    }
}

/// One range of an explicit layout, as `list -M` prints it: `start` and `end` inclusive, `page_offset` optional
/// (used to order), and `size` and `offset` optional (checked against the range, so that a whole `list -M` mapping
/// can be sent back as it was printed).
public struct MappingRequest: Hashable, Sendable, Codable {
    /// JSON `page_offset`: where the range starts in the device, in 4 KiB pages; used only to order the ranges.
    public var pageOffset: UInt64?
    /// JSON `start`: the range's first byte, as `list -M` printed it (a region offset, or a physical address for
    /// devdax).
    public var start: UInt64
    /// JSON `end`: the range's last byte (inclusive), in the same terms as `start`.
    public var end: UInt64
    /// JSON `size`: the range's length in bytes, as `list -M` prints it; when given it must be `end - start + 1`.
    public var size: ByteCount?
    /// JSON `offset`: the range's region offset, as `list -M` prints it for devdax (where `start` is a physical
    /// address); when given it must be the region offset `start` stands for in the region the device is made in.
    public var offset: RegionOffset?

    /// The range `start...end`, at `pageOffset` pages into the device when given; `size` and `offset`, when
    /// given, are checked against it.
    public init(
        pageOffset: UInt64?, start: UInt64, end: UInt64, size: ByteCount? = nil, offset: RegionOffset? = nil
    ) {
        self.pageOffset = pageOffset
        self.start = start
        self.end = end
        self.size = size
        self.offset = offset
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case start, end, size, offset
        case pageOffset = "page_offset"
    }
}

extension MappingRequest: KeyedRequestBody {
    /// `start`, `end`, `page_offset`, `size` and `offset`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `PATCH /v1/devices/{device}`.
public struct ReconfigureDeviceRequest: Hashable, Sendable, Codable {
    /// JSON `size`: the device's new size (a size string or byte integer); absent to keep it.
    public var size: ByteCount?
    /// JSON `align`: the device's new alignment, `4K`, `2M`, `1G` or bytes (encoded as bytes); absent to keep it.
    public var align: Alignment?
    /// JSON `force`: change the device even though it is enabled, or shrink it even though it is leased; absent
    /// means no.
    public var force: Bool?

    /// A reconfigure request; every field defaults to absent.
    public init(size: ByteCount? = nil, align: Alignment? = nil, force: Bool? = nil) {
        self.size = size
        self.align = align
        self.force = force
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case size, align, force
    }

    /// Decodes a body, checking its size and alignment as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        size = try container.decodeSizeIfPresent(forKey: .size)
        align = try container.decodeAlignmentIfPresent(forKey: .align)
        force = try container.decodeIfPresent(Bool.self, forKey: .force)
    }
}

extension ReconfigureDeviceRequest: KeyedRequestBody {
    /// `size`, `align` and `force`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/devices/{device}/leases`: take a lease for a process (default: the caller's pid).
public struct LeaseRequest: Hashable, Sendable, Codable {
    /// JSON `pid`: the process to take the lease for; absent for the caller's own process.
    public var pid: Int32?

    /// A lease request for `pid`, or for the caller when `nil`.
    public init(pid: Int32? = nil) {
        self.pid = pid
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case pid
    }
}

extension LeaseRequest: KeyedRequestBody {
    /// `pid` only; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `GET /v1/health`.
public struct HealthResponse: Hashable, Sendable, Codable {
    /// JSON `status`: `ok` while the daemon answers.
    public var status: String
    /// JSON `pid`: the daemon's process id.
    public var pid: Int32
    /// JSON `version`: the daemon's version.
    public var version: String

    /// A health answer with every field given.
    public init(status: String, pid: Int32, version: String) {
        self.status = status
        self.pid = pid
        self.version = version
    }
}

/// `POST /v1/errors`: report a memory error (operators and tests), by device offset or region offset.
public struct InjectErrorRequest: Hashable, Sendable, Codable {
    /// JSON `device`: the device the error is in (`daxR.N` or its name), with `offset`; absent when given by region.
    public var device: DeviceReference?
    /// JSON `offset`: where the error starts inside `device`, in bytes (an integer or a size string).
    public var offset: ByteCount?
    /// JSON `region`: the region the error is in, with `region_offset`; absent when given by device.
    public var region: Int?
    /// JSON `region_offset`: where the error starts in the region, in bytes (an integer or a size string).
    public var regionOffset: RegionOffset?
    /// JSON `length`: the bytes the error covers (rounded out to `granule`).
    public var length: ByteCount
    /// JSON `granule`: the granule to quarantine in (`4K` default, `2M`, `1G`, or the same in bytes; encoded as
    /// bytes).
    public var granule: Alignment?

    /// An error report of `length` bytes; the location fields and `granule` default to absent.
    public init(
        device: DeviceReference? = nil,
        offset: ByteCount? = nil,
        region: Int? = nil,
        regionOffset: RegionOffset? = nil,
        length: ByteCount,
        granule: Alignment? = nil
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

    /// Decodes a body, checking the device, the offsets, the length and the granule as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        device = try container.decodeIfPresent(DeviceReference.self, forKey: .device)
        offset = try container.decodeSizeIfPresent(forKey: .offset)
        region = try container.decodeIfPresent(Int.self, forKey: .region)
        regionOffset = try container.decodeRegionOffsetIfPresent(forKey: .regionOffset)
        length = try container.decodeSize(forKey: .length)
        granule = try container.decodeAlignmentIfPresent(forKey: .granule)
    }
}

extension InjectErrorRequest: KeyedRequestBody {
    /// `device`, `offset`, `region`, `region_offset`, `length` and `granule`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/errors/clear`: forget bad blocks in a range after it was scrubbed and verified.
public struct ClearErrorsRequest: Hashable, Sendable, Codable {
    /// JSON `region`: the region whose bad blocks are cleared.
    public var region: Int
    /// JSON `region_offset`: where the cleared range starts in the region, in bytes (an integer or a size string).
    public var regionOffset: RegionOffset
    /// JSON `length`: the cleared range's length in bytes (an integer or a size string).
    public var length: ByteCount

    /// A request to clear `length` bytes of region `region` from `regionOffset`.
    public init(region: Int, regionOffset: RegionOffset, length: ByteCount) {
        self.region = region
        self.regionOffset = regionOffset
        self.length = length
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, length
        case regionOffset = "region_offset"
    }

    /// Decodes a body, checking the offset and the length as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        region = try container.decode(Int.self, forKey: .region)
        regionOffset = try container.decodeRegionOffset(forKey: .regionOffset)
        length = try container.decodeSize(forKey: .length)
    }
}

extension ClearErrorsRequest: KeyedRequestBody {
    /// `region`, `region_offset` and `length`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// The answer to `POST /v1/errors/clear`.
public struct ClearErrorsResponse: Hashable, Sendable, Codable {
    /// JSON `cleared`: how many bad-block ranges overlapped the range and were forgotten (0 when none).
    public var cleared: Int
    /// JSON `region`: the region as it is now, its bad blocks and free memory updated.
    public var region: RegionInfo

    /// The answer for `cleared` ranges of `region`.
    public init(cleared: Int, region: RegionInfo) {
        self.cleared = cleared
        self.region = region
    }
}

/// The body of `POST /v1/recover`: which region to rebuild (default: every degraded region), and whether to do it
/// (`apply`) or only show how (the default).
public struct RecoverRequest: Hashable, Sendable, Codable {
    /// JSON `region`: the region to rebuild; absent for every degraded region.
    public var region: Int?
    /// JSON `apply`: commit the rebuild; absent or `false` only shows the plan.
    public var apply: Bool?

    /// A recover request; both fields default to absent (plan every degraded region, apply nothing).
    public init(region: Int? = nil, apply: Bool? = nil) {
        self.region = region
        self.apply = apply
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, apply
    }
}

extension RecoverRequest: KeyedRequestBody {
    /// `region` and `apply`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// The answer to `POST /v1/recover`: one plan per region.
public struct RecoverResponse: Hashable, Sendable, Codable {
    /// JSON `regions`: one plan (or result, with `apply`) per region.
    public var regions: [RegionRecovery]

    /// The answer for `regions`.
    public init(regions: [RegionRecovery]) {
        self.regions = regions
    }
}

/// How one region is (or was) rebuilt from what survives.
public struct RegionRecovery: Hashable, Sendable, Codable {
    /// JSON `region`: the region id.
    public var region: Int
    /// Why the region was in doubt (empty when it was not).
    public var reasons: [String]
    /// Each decision with its reason.
    public var decisions: [RecoveryDecision]
    /// Whether the rebuild was committed (`--apply`).
    public var applied: Bool
    /// The devices as rebuilt.
    public var devices: [DeviceInfo]

    /// A region's recovery with every field given.
    public init(region: Int, reasons: [String], decisions: [RecoveryDecision], applied: Bool, devices: [DeviceInfo]) {
        self.region = region
        self.reasons = reasons
        self.decisions = decisions
        self.applied = applied
        self.devices = devices
    }
}
