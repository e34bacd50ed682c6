/// A memory error attributed to its region, device and owner: what an owner is told.
public struct MemoryErrorEvent: Hashable, Sendable, Codable {
    /// Increasing number of the event; clients resume a stream after the last one they saw.
    public var sequence: UInt64
    /// Milliseconds since the Unix epoch when daxpool learnt of the error.
    public var time: Int64
    /// `api`, `sigbus-ao`, `sigbus-ar` or `badblocks` for memory errors; `excess` for a device file its owner grew;
    /// `repair`, `degraded` and `lost+found` for what the daemon found in its persisted state at start.
    public var source: String
    /// JSON `region`: the id of the region the range lies in.
    public var region: Int
    /// The quarantined range, rounded out to the granule.
    public var regionOffset: UInt64
    /// JSON `length`: the quarantined range's length in bytes, a multiple of `granule`.
    public var length: UInt64
    /// The granule the error was reported in (the kernel's `si_addr_lsb`, or 4 KiB).
    public var granule: UInt64
    /// The device the range falls in, if any, with the offset inside it.
    public var device: String?
    /// JSON `device_offset`: where the range starts inside `device`, in bytes; `nil` when no device holds it.
    public var deviceOffset: UInt64?
    /// JSON `device_uuid`: that device's uuid, so an owner can tell it from a later device with the same id.
    public var deviceUUID: String?
    /// JSON `device_name`: that device's user-chosen name, when it has one.
    public var deviceName: String?
    /// What happened, in words, for events that are not memory errors (`repair`, `degraded`, `lost+found`).
    public var detail: String?

    /// An event with every field given; the device fields and `detail` default to absent.
    public init(
        sequence: UInt64,
        time: Int64,
        source: String,
        region: Int,
        regionOffset: UInt64,
        length: UInt64,
        granule: UInt64,
        device: String? = nil,
        deviceOffset: UInt64? = nil,
        deviceUUID: String? = nil,
        deviceName: String? = nil,
        detail: String? = nil
    ) {
        self.sequence = sequence
        self.time = time
        self.source = source
        self.region = region
        self.regionOffset = regionOffset
        self.length = length
        self.granule = granule
        self.device = device
        self.deviceOffset = deviceOffset
        self.deviceUUID = deviceUUID
        self.deviceName = deviceName
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case sequence, time, source, region, length, granule, device, detail
        case regionOffset = "region_offset"
        case deviceOffset = "device_offset"
        case deviceUUID = "device_uuid"
        case deviceName = "device_name"
    }
}
