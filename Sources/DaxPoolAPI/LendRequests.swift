public import DaxPoolCore

/// `POST /v1/lend`: make a device from free memory of a devdax region and give it to the host as System RAM.
public struct LendRequest: Hashable, Sendable, Codable {
    /// JSON `region`: the id of the devdax region whose free memory is lent.
    public var region: Int
    /// JSON `size`: a whole number of memory blocks (`/sys/devices/system/memory/block_size_bytes`), as bytes or a
    /// size string.
    public var size: ByteCount
    /// JSON `name`: the new device's name (checked with every rule of `DeviceName(validating:)`); absent for none.
    public var name: DeviceName?

    /// A request to lend `size` bytes of region `region` as a new device named `name`.
    public init(region: Int, size: ByteCount, name: DeviceName? = nil) {
        self.region = region
        self.size = size
        self.name = name
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case region, size, name
    }

    /// Decodes a body, checking the size and the name as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        region = try container.decode(Int.self, forKey: .region)
        size = try container.decodeSize(forKey: .size)
        name = try container.decodeDeviceNameIfPresent(forKey: .name)
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
    public var device: DeviceReference?
    /// JSON `region`: the region whose lent devices are taken back, with `size`; absent when naming a `device`.
    public var region: Int?
    /// JSON `size`: at least how many bytes of the region's lent memory to take back (a size string or integer).
    public var size: ByteCount?
    /// How long the kernel may take to offline the memory (milliseconds, default 60,000); past it the device stays
    /// lent and the answer says how far the offline came.
    public var timeLimitMilliseconds: UInt64?

    /// A reclaim of `device`, or of `size` bytes of `region`; the time limit defaults to the daemon's (60 s).
    public init(
        device: DeviceReference? = nil, region: Int? = nil, size: ByteCount? = nil, timeLimitMilliseconds: UInt64? = nil
    ) {
        self.device = device
        self.region = region
        self.size = size
        self.timeLimitMilliseconds = timeLimitMilliseconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case device, region, size
        case timeLimitMilliseconds = "time_limit_ms"
    }

    /// Decodes a body, checking the device and the size as it goes.
    /// - Throws: `DecodingError` naming the field and what to write for a value of the wrong form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        device = try container.decodeIfPresent(DeviceReference.self, forKey: .device)
        region = try container.decodeIfPresent(Int.self, forKey: .region)
        size = try container.decodeSizeIfPresent(forKey: .size)
        timeLimitMilliseconds = try container.decodeIfPresent(UInt64.self, forKey: .timeLimitMilliseconds)
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
