/// `POST /v1/lend`: make a device from free memory of a devdax region and give it to the host as System RAM.
public struct LendRequest: Hashable, Sendable, Codable {
    public var region: Int
    /// A whole number of memory blocks (`/sys/devices/system/memory/block_size_bytes`).
    public var size: SizeValue
    public var name: String?

    public init(region: Int, size: SizeValue, name: String? = nil) {
        self.region = region
        self.size = size
        self.name = name
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, size, name
    }
}

extension LendRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/reclaim`: take lent memory back from the host, either one device (`device`) or at least `size` bytes
/// of region `region`'s lent devices.
public struct ReclaimRequest: Hashable, Sendable, Codable {
    public var device: String?
    public var region: Int?
    public var size: SizeValue?
    /// How long the kernel may take to offline the memory (milliseconds, default 60,000); past it the device stays
    /// lent and the answer says how far the offline came.
    public var timeLimitMilliseconds: UInt64?

    public init(device: String? = nil, region: Int? = nil, size: SizeValue? = nil, timeLimitMilliseconds: UInt64? = nil)
    {
        self.device = device
        self.region = region
        self.size = size
        self.timeLimitMilliseconds = timeLimitMilliseconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case device, region, size
        case timeLimitMilliseconds = "time_limit_ms"
    }
}

extension ReclaimRequest: KeyedRequestBody {
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// What a reclaim took back: the devices, now gone (their memory zeroed and free in the region), and the bytes.
public struct ReclaimResponse: Hashable, Sendable, Codable {
    public var reclaimed: [String]
    public var size: UInt64
    /// Milliseconds from the request to the memory being free.
    public var milliseconds: UInt64

    public init(reclaimed: [String], size: UInt64, milliseconds: UInt64) {
        self.reclaimed = reclaimed
        self.size = size
        self.milliseconds = milliseconds
    }
}
