/// `POST /v1/lend`: make a device from free memory of a devdax region and give it to the host as System RAM.
public struct LendRequest: Hashable, Sendable, Codable {
    /// JSON `region`: the id of the devdax region whose free memory is lent.
    public var region: Int
    /// A whole number of memory blocks (`/sys/devices/system/memory/block_size_bytes`).
    public var size: SizeValue
    /// JSON `name`: the new device's name; absent for none.
    public var name: String?

    /// A request to lend `size` bytes of region `region` as a new device named `name`.
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
    /// `region`, `size` and `name`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// `POST /v1/reclaim`: take lent memory back from the host, either one device (`device`) or at least `size` bytes
/// of region `region`'s lent devices.
public struct ReclaimRequest: Hashable, Sendable, Codable {
    /// JSON `device`: the lent device to take back, `daxR.N` or its name; absent when reclaiming by `region`/`size`.
    public var device: String?
    /// JSON `region`: the region whose lent devices are taken back, with `size`; absent when naming a `device`.
    public var region: Int?
    /// JSON `size`: at least how many bytes of the region's lent memory to take back (a size string or integer).
    public var size: SizeValue?
    /// How long the kernel may take to offline the memory (milliseconds, default 60,000); past it the device stays
    /// lent and the answer says how far the offline came.
    public var timeLimitMilliseconds: UInt64?

    /// A reclaim of `device`, or of `size` bytes of `region`; the time limit defaults to the daemon's (60 s).
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
    /// `device`, `region`, `size` and `time_limit_ms`; the daemon refuses any other key.
    public static var requestKeys: RequestKeys { RequestKeys(CodingKeys.self) }
}

/// What a reclaim took back: the devices, now gone (their memory zeroed and free in the region), and the bytes.
public struct ReclaimResponse: Hashable, Sendable, Codable {
    /// JSON `reclaimed`: the devices taken back (`daxR.N`), now destroyed.
    public var reclaimed: [String]
    /// JSON `size`: the bytes taken back in all.
    public var size: UInt64
    /// Milliseconds from the request to the memory being free.
    public var milliseconds: UInt64

    /// The answer for `reclaimed` devices of `size` bytes in all, freed `milliseconds` after the request.
    public init(reclaimed: [String], size: UInt64, milliseconds: UInt64) {
        self.reclaimed = reclaimed
        self.size = size
        self.milliseconds = milliseconds
    }
}
