/// One change to the persisted pool state: what a commit appends to the state journal instead of the whole
/// snapshot. A change names whole facts (a region's settings, one device with its ranges), so applying the
/// changes of a commit to the state before it gives exactly the state after it.
public enum StateChange: Hashable, Sendable, Codable {
    /// A region's settings, bad blocks, pending scrubs and doubt (everything but its devices), added or replaced.
    case putRegion(config: RegionConfig, badBlocks: [Extent], pendingScrubs: [PendingScrub], degraded: RegionDoubt?)
    /// A region and its devices are gone.
    case removeRegion(id: Int)
    /// A device with its ranges, added or replaced (keyed by its `daxR.N` id).
    case putDevice(device: DeviceSnapshot)
    /// A device is gone.
    case removeDevice(id: DeviceID)
    /// A pending scrub added to a region whose settings are otherwise unchanged (kept in `id` order).
    case putScrub(region: Int, scrub: PendingScrub)
    /// A pending scrub of a region is done.
    case removeScrub(region: Int, id: UInt64)
    /// Events recorded since the last change: appended, the oldest dropped past `PoolModel.retainedEvents`.
    case appendEvents(events: [MemoryErrorEvent], lastEventSequence: UInt64)
    /// The retained events replaced whole (when they did not simply grow).
    case setEvents(events: [MemoryErrorEvent], lastEventSequence: UInt64)
}

/// Why a list of changes does not apply to a snapshot (a journal that does not belong to its checkpoint).
public struct StateChangeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What does not apply and why.
    public var description: String
    /// The index of the record that does not apply, in a replay of many.
    public var record: Int?

    /// An error told in `description`, about record `record` of a replay when known.
    public init(_ description: String, record: Int? = nil) {
        self.description = description
        self.record = record
    }
}

extension PoolSnapshot {
    /// The changes that turn `self` into `target`: regions first (so devices have one), then devices, then regions
    /// that are gone, then events. `self.applying(self.changes(to: target)) == target` for snapshots whose regions
    /// and devices are sorted as `PoolModel.snapshot` sorts them.
    public func changes(to target: PoolSnapshot) -> [StateChange] {
        var result: [StateChange] = []
        let old = Dictionary(regions.map { ($0.config.id, $0) }, uniquingKeysWith: { first, _ in first })
        let new = Dictionary(target.regions.map { ($0.config.id, $0) }, uniquingKeysWith: { first, _ in first })
        for region in target.regions {
            let before = old[region.config.id]
            if let before, before.hasSameSettings(as: region, exceptScrubs: true),
                Self.isInIDOrder(before.pendingScrubs), Self.isInIDOrder(region.pendingScrubs)
            {
                // Only pending scrubs changed: one change per scrub, not the region with all of its scrubs.
                let kept = Set(region.pendingScrubs.map(\.id))
                let previous = Dictionary(
                    before.pendingScrubs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                for scrub in before.pendingScrubs where !kept.contains(scrub.id) {
                    result.append(.removeScrub(region: region.config.id, id: scrub.id))
                }
                for scrub in region.pendingScrubs where previous[scrub.id] != scrub {
                    result.append(.putScrub(region: region.config.id, scrub: scrub))
                }
            } else if before.map({ !$0.hasSameSettings(as: region) }) ?? true {
                result.append(
                    .putRegion(
                        config: region.config, badBlocks: region.badBlocks, pendingScrubs: region.pendingScrubs,
                        degraded: region.degraded))
            }
            let oldDevices = Dictionary(
                (before?.devices ?? []).map { ($0.record.id, $0) }, uniquingKeysWith: { first, _ in first })
            let newIDs = Set(region.devices.map(\.record.id))
            for device in before?.devices ?? [] where !newIDs.contains(device.record.id) {
                result.append(.removeDevice(id: device.record.id))
            }
            for device in region.devices where oldDevices[device.record.id] != device {
                result.append(.putDevice(device: device))
            }
        }
        for region in regions where new[region.config.id] == nil {
            result.append(.removeRegion(id: region.config.id))
        }
        if target.events != events || target.lastEventSequence != lastEventSequence {
            let added = target.events.filter { $0.sequence > lastEventSequence }
            if Self.retained(events + added) == target.events {
                result.append(.appendEvents(events: added, lastEventSequence: target.lastEventSequence))
            } else {
                result.append(.setEvents(events: target.events, lastEventSequence: target.lastEventSequence))
            }
        }
        return result
    }

    /// `self` with `changes` applied in order.
    ///
    /// - Throws: `StateChangeError` when a change names a region that does not exist (a device of an unknown
    ///   region, a removal of something absent): the changes were not made against this state.
    public func applying(_ changes: [StateChange]) throws(StateChangeError) -> PoolSnapshot {
        var result = self
        for change in changes {
            try result.apply(change)
        }
        return result
    }

    /// Applies one change.
    public mutating func apply(_ change: StateChange) throws(StateChangeError) {
        switch change {
        case .putRegion(let config, let badBlocks, let pendingScrubs, let degraded):
            if let index = regions.firstIndex(where: { $0.config.id == config.id }) {
                regions[index].config = config
                regions[index].badBlocks = badBlocks
                regions[index].pendingScrubs = pendingScrubs
                regions[index].degraded = degraded
            } else {
                regions.append(
                    RegionSnapshot(
                        config: config, devices: [], badBlocks: badBlocks, pendingScrubs: pendingScrubs,
                        degraded: degraded))
                regions.sort { $0.config.id < $1.config.id }
            }
        case .removeRegion(let id):
            guard let index = regions.firstIndex(where: { $0.config.id == id }) else {
                throw StateChangeError("the journal removes region \(id), which does not exist")
            }
            regions.remove(at: index)
        case .putDevice(let device):
            let id = device.record.id
            guard let index = regions.firstIndex(where: { $0.config.id == id.region }) else {
                throw StateChangeError("the journal puts \(id) into region \(id.region), which does not exist")
            }
            var devices = regions[index].devices
            if let slot = devices.firstIndex(where: { $0.record.id == id }) {
                devices[slot] = device
            } else {
                devices.append(device)
                devices.sort { $0.record.id.instance < $1.record.id.instance }
            }
            regions[index].devices = devices
        case .removeDevice(let id):
            guard let index = regions.firstIndex(where: { $0.config.id == id.region }),
                let slot = regions[index].devices.firstIndex(where: { $0.record.id == id })
            else {
                throw StateChangeError("the journal removes \(id), which does not exist")
            }
            regions[index].devices.remove(at: slot)
        case .putScrub(let region, let scrub):
            guard let index = regions.firstIndex(where: { $0.config.id == region }) else {
                throw StateChangeError("the journal puts a scrub into region \(region), which does not exist")
            }
            regions[index].pendingScrubs.put(scrub)
        case .removeScrub(let region, let id):
            guard let index = regions.firstIndex(where: { $0.config.id == region }),
                let slot = regions[index].pendingScrubs.firstIndex(where: { $0.id == id })
            else {
                throw StateChangeError("the journal removes scrub \(id) of region \(region), which does not exist")
            }
            regions[index].pendingScrubs.remove(at: slot)
        case .appendEvents(let added, let last):
            events = Self.retained(events + added)
            lastEventSequence = last
        case .setEvents(let all, let last):
            events = all
            lastEventSequence = last
        }
    }

    /// Whether `scrubs` are in strictly ascending `id` order (as the model keeps them).
    static func isInIDOrder(_ scrubs: [PendingScrub]) -> Bool {
        zip(scrubs, scrubs.dropFirst()).allSatisfy { $0.id < $1.id }
    }

    /// The newest `PoolModel.retainedEvents` of `events`.
    static func retained(_ events: [MemoryErrorEvent]) -> [MemoryErrorEvent] {
        events.count > PoolModel.retainedEvents ? Array(events.suffix(PoolModel.retainedEvents)) : events
    }
}

extension RegionSnapshot {
    /// Whether everything but the devices (and, with `exceptScrubs`, the pending scrubs) is the same.
    func hasSameSettings(as other: RegionSnapshot, exceptScrubs: Bool = false) -> Bool {
        config == other.config && badBlocks == other.badBlocks
            && (exceptScrubs || pendingScrubs == other.pendingScrubs) && degraded == other.degraded
    }
}

extension PoolSnapshot {
    /// `self` with every record of `records` (each a list of changes) applied in order, as `applying` would, in time
    /// linear in the number of changes (a journal replay at start).
    ///
    /// - Throws: `StateChangeError` for the first record that does not apply, with `record` set to its index; the
    ///   records before it apply (`replaying(records[..<index])`).
    public func replaying(_ records: [[StateChange]]) throws(StateChangeError) -> PoolSnapshot {
        struct Region {
            var snapshot: RegionSnapshot
            var devices: [Int: DeviceSnapshot]
        }
        var table: [Int: Region] = [:]
        for region in regions {
            table[region.config.id] = Region(
                snapshot: region,
                devices: Dictionary(
                    region.devices.map { ($0.record.id.instance, $0) }, uniquingKeysWith: { first, _ in first }))
        }
        var events = self.events
        var lastEventSequence = self.lastEventSequence
        for (index, changes) in records.enumerated() {
            for change in changes {
                switch change {
                case .putRegion(let config, let badBlocks, let pendingScrubs, let degraded):
                    var region =
                        table[config.id]
                        ?? Region(snapshot: RegionSnapshot(config: config, devices: [], badBlocks: []), devices: [:])
                    region.snapshot.config = config
                    region.snapshot.badBlocks = badBlocks
                    region.snapshot.pendingScrubs = pendingScrubs
                    region.snapshot.degraded = degraded
                    table[config.id] = region
                case .removeRegion(let id):
                    guard table.removeValue(forKey: id) != nil else {
                        throw StateChangeError("the journal removes region \(id), which does not exist", record: index)
                    }
                case .putDevice(let device):
                    let id = device.record.id
                    guard table[id.region] != nil else {
                        throw StateChangeError(
                            "the journal puts \(id) into region \(id.region), which does not exist", record: index)
                    }
                    table[id.region]?.devices[id.instance] = device
                case .removeDevice(let id):
                    guard table[id.region]?.devices.removeValue(forKey: id.instance) != nil else {
                        throw StateChangeError("the journal removes \(id), which does not exist", record: index)
                    }
                case .putScrub(let region, let scrub):
                    guard table[region] != nil else {
                        throw StateChangeError(
                            "the journal puts a scrub into region \(region), which does not exist", record: index)
                    }
                    table[region]?.snapshot.pendingScrubs.put(scrub)
                case .removeScrub(let region, let id):
                    guard let slot = table[region]?.snapshot.pendingScrubs.firstIndex(where: { $0.id == id }) else {
                        throw StateChangeError(
                            "the journal removes scrub \(id) of region \(region), which does not exist", record: index)
                    }
                    table[region]?.snapshot.pendingScrubs.remove(at: slot)
                case .appendEvents(let added, let last):
                    events = Self.retained(events + added)
                    lastEventSequence = last
                case .setEvents(let all, let last):
                    events = all
                    lastEventSequence = last
                }
            }
        }
        var result = PoolSnapshot(regions: [], events: events, lastEventSequence: lastEventSequence)
        for id in table.keys.sorted() {
            guard var region = table[id] else { continue }
            region.snapshot.devices = region.devices.keys.sorted().compactMap { region.devices[$0] }
            result.regions.append(region.snapshot)
        }
        return result
    }
}

extension [PendingScrub] {
    /// Puts `scrub` in (the array kept in `id` order): replaces the one with its id, else inserts it in order.
    mutating func put(_ scrub: PendingScrub) {
        if let slot = firstIndex(where: { $0.id == scrub.id }) {
            self[slot] = scrub
        } else {
            insert(scrub, at: lastIndex(where: { $0.id < scrub.id }).map { $0 + 1 } ?? 0)
        }
    }
}
