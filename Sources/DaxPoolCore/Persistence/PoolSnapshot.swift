/// Everything needed to rebuild the pool after a restart.
public struct PoolSnapshot: Hashable, Sendable, Codable {
    /// JSON `regions`: every region with its devices, bad blocks and pending scrubs.
    public var regions: [RegionSnapshot]
    /// The most recent memory-error events, so a client that connects later still reads them.
    public var events: [MemoryErrorEvent]
    /// JSON `last_event_sequence`: the sequence number of the newest event ever recorded, so numbering continues
    /// after a restart even when older events were dropped.
    public var lastEventSequence: UInt64

    /// A snapshot of `regions`; `events` default to none and `lastEventSequence` to 0.
    public init(regions: [RegionSnapshot], events: [MemoryErrorEvent] = [], lastEventSequence: UInt64 = 0) {
        self.regions = regions
        self.events = events
        self.lastEventSequence = lastEventSequence
    }

    enum CodingKeys: String, CodingKey {
        case regions, events
        case lastEventSequence = "last_event_sequence"
    }
}

/// One region as persisted: configuration, devices with their ranges, bad blocks.
public struct RegionSnapshot: Hashable, Sendable, Codable {
    /// JSON `config`: the region's settings.
    public var config: RegionConfig
    /// JSON `devices`: the region's devices with their ranges.
    public var devices: [DeviceSnapshot]
    /// JSON `bad_blocks`: known-bad ranges (region offsets, bytes), sorted and merged.
    public var badBlocks: [Extent]
    /// Destroyed devices' memory that was not yet zeroed when the snapshot was taken.
    public var pendingScrubs: [PendingScrub]
    /// Why the region's state is in doubt (it is `degraded`), or `nil` when it is not.
    public var degraded: RegionDoubt?

    /// A region snapshot; `pendingScrubs` default to none and `degraded` to not in doubt.
    public init(
        config: RegionConfig,
        devices: [DeviceSnapshot],
        badBlocks: [Extent],
        pendingScrubs: [PendingScrub] = [],
        degraded: RegionDoubt? = nil
    ) {
        self.config = config
        self.devices = devices
        self.badBlocks = badBlocks
        self.pendingScrubs = pendingScrubs
        self.degraded = degraded
    }

    /// Snapshots written before scrubbing moved off the request path have no `pending_scrubs`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        config = try container.decode(RegionConfig.self, forKey: .config)
        devices = try container.decode([DeviceSnapshot].self, forKey: .devices)
        badBlocks = try container.decode([Extent].self, forKey: .badBlocks)
        pendingScrubs = try container.decodeIfPresent([PendingScrub].self, forKey: .pendingScrubs) ?? []
        degraded = try container.decodeIfPresent(RegionDoubt.self, forKey: .degraded)
    }

    enum CodingKeys: String, CodingKey {
        case config, devices, degraded
        case badBlocks = "bad_blocks"
        case pendingScrubs = "pending_scrubs"
    }
}

/// One device as persisted: its record and its ranges in page-offset order.
public struct DeviceSnapshot: Hashable, Sendable, Codable {
    /// JSON `record`: the device's identity and settings.
    public var record: DeviceRecord
    /// JSON `extents`: the device's ranges (region offsets and lengths in bytes) in page-offset order.
    public var extents: [Extent]

    /// A device snapshot of `record` with `extents`.
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

    /// Throws what `commit(snapshot)` would throw because the snapshot does not fit (a full label area), without
    /// writing anything: the daemon asks before it touches a backend, so that such a refusal has no side effects.
    func check(_ snapshot: PoolSnapshot) throws

    /// What the last `load` found in the persisted state and did about it (a copy repaired from the other, a
    /// region put in doubt), once: a second call returns nothing until the next load.
    func takeFindings() -> [StoreFinding]

    /// The device layouts the region's second copy (its label area) holds, read as they are on disk; `nil` when the
    /// store keeps no second copy or it is unreadable. Evidence for `daxpool recover`.
    func secondCopy(region: Int) -> [LabelledNamespace]?

    /// Keeps the region's second copy as it is now under another name before a recover replaces it.
    func preserveSecondCopy(region: Int)

    /// Queues the change from the last queued state to `snapshot` after checking it as `check` does, in call order,
    /// and returns a ticket for `waitDurable`. Stores that write at once commit here and return 0.
    func enqueue(_ snapshot: PoolSnapshot) throws -> UInt64

    /// Blocks until the change of `ticket`, and every change queued before it, is durable.
    func waitDurable(_ ticket: UInt64) throws

    /// Suspends until the change of `ticket` is durable, without holding a thread: the store's writer resumes every
    /// caller its write covered. Returns `false` when the store has no such wait (then `waitDurable` it, off the
    /// caller's executor).
    func durable(_ ticket: UInt64) async throws -> Bool
}

extension StateStore {
    /// Stores that cannot run out of room have nothing to check.
    public func check(_ snapshot: PoolSnapshot) throws {}

    /// Stores without copies to compare find nothing.
    public func takeFindings() -> [StoreFinding] { [] }

    /// Stores without a second copy have none: `nil`.
    public func secondCopy(region: Int) -> [LabelledNamespace]? { nil }

    /// Stores without a second copy have nothing to keep.
    public func preserveSecondCopy(region: Int) {}

    /// Commits at once and returns ticket 0: the change is durable before this returns.
    public func enqueue(_ snapshot: PoolSnapshot) throws -> UInt64 {
        try commit(snapshot)
        return 0
    }

    /// Returns at once: `enqueue` already committed.
    public func waitDurable(_ ticket: UInt64) throws {}

    /// No asynchronous wait: `false`.
    public func durable(_ ticket: UInt64) async throws -> Bool { false }
}

/// A fact a store's `load` found about the persisted state.
public struct StoreFinding: Hashable, Sendable {
    /// What the store found; the raw value is the `source` of the event the daemon records for it.
    public enum Kind: String, Hashable, Sendable {
        /// A damaged or stale copy was rebuilt from the other copy: nothing was lost.
        case repaired = "repair"
        /// The region's state is in doubt: it comes up degraded.
        case degraded
        /// Something the store cannot attach to a known region (state it keeps untouched).
        case kept
    }

    /// What kind of fact it is.
    public var kind: Kind
    /// The region it is about, or `nil` for the whole store.
    public var region: Int?
    /// What was found and done, in words.
    public var detail: String

    /// A finding of `kind` about `region` (or the whole store), told in `detail`.
    public init(_ kind: Kind, region: Int?, _ detail: String) {
        self.kind = kind
        self.region = region
        self.detail = detail
    }
}
