/// Everything needed to rebuild the pool after a restart.
public struct PoolSnapshot: Hashable, Sendable, Codable {
    public var regions: [RegionSnapshot]

    public init(regions: [RegionSnapshot]) { self.regions = regions }
}

/// One region as persisted: configuration, devices with their ranges, quarantined ranges.
public struct RegionSnapshot: Hashable, Sendable, Codable {
    public var config: RegionConfig
    public var devices: [DeviceSnapshot]
    public var quarantined: [Extent]

    public init(config: RegionConfig, devices: [DeviceSnapshot], quarantined: [Extent]) {
        self.config = config
        self.devices = devices
        self.quarantined = quarantined
    }
}

/// One device as persisted: its record and its ranges in page-offset order.
public struct DeviceSnapshot: Hashable, Sendable, Codable {
    public var record: DeviceRecord
    public var extents: [Extent]

    public init(record: DeviceRecord, extents: [Extent]) {
        self.record = record
        self.extents = extents
    }
}

/// Where the pool's state is kept. `commit` must be durable (written and flushed) when it returns, and
/// atomic: after a crash, `load` returns either the previous or the new snapshot.
public protocol StateStore: Sendable {
    /// The last committed snapshot, or `nil` if nothing was ever committed.
    func load() throws -> PoolSnapshot?
    /// Durably replaces the stored snapshot.
    func commit(_ snapshot: PoolSnapshot) throws
}
