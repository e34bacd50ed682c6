/// One region: its configuration, its allocator and its devices.
public struct RegionState: Sendable, Equatable {
    /// The region's settings: backend, size, alignments, node, path and pool.
    public var config: RegionConfig
    /// Who holds which range of the region's offset space: device ranges and quarantined blocks.
    public var allocator: RegionAllocator
    /// Devices by instance number.
    public var devices: [Int: DeviceRecord]
    /// Known-bad ranges, sorted and merged. Free parts are quarantined in the allocator; parts inside a
    /// device are quarantined when the device lets them go.
    public var badBlocks: [Extent]
    /// Destroyed devices' memory waiting to be zeroed, oldest first. Its extents are quarantined in the
    /// allocator until `finishScrub` frees them.
    public var pendingScrubs: [PendingScrub]
    /// Why the region's persisted state is in doubt, or `nil`. A degraded region keeps its devices as they are:
    /// no device is created, resized or destroyed in it until `daxpool recover` rebuilt it.
    public var degraded: RegionDoubt?
    /// Devices being created: their ranges and names are taken, but they are not persisted, listed or usable until
    /// `settle` (their memory is being allocated off the service's actor), or gone again after `abandon`.
    public var provisional: Set<Int> = []
    /// Numbers of destroyed devices whose memory the backend is still taking away (after the destroy's commit): not
    /// handed to a new device until that is done, so the new device's file is never the one being taken.
    public var retiring: Set<Int> = []
    /// Devices growing: the backend allocates their new memory off the service's actor. The allocator holds the new
    /// (larger) ranges, so no other device takes them, while the snapshot persists the device as it was (the value)
    /// until `finishResize`; other requests for the device meanwhile answer `deviceBusy`.
    public var resizing: [Int: DeviceSnapshot] = [:]

    /// Devices in instance order, without the ones still being created.
    public var settledDevices: [DeviceRecord] { sortedDevices.filter { !provisional.contains($0.id.instance) } }

    /// A new region with nothing allocated: no devices, no bad blocks, no pending scrubs, not in doubt.
    public init(config: RegionConfig) {
        self.config = config
        self.allocator = RegionAllocator(size: config.size, barriers: config.segmentBoundaries)
        self.devices = [:]
        self.badBlocks = []
        self.pendingScrubs = []
        self.degraded = nil
    }

    /// Throws `.regionDegraded` when the region is in doubt: `action` would change memory no one can account for.
    public func requireSound(to action: String) throws(PoolError) {
        if let degraded { throw .regionDegraded(config.id, reasons: degraded.reasons, action: action) }
    }

    /// Devices in instance order.
    public var sortedDevices: [DeviceRecord] { devices.keys.sorted().compactMap { devices[$0] } }

    /// The lowest free instance number, as the kernel's IDA hands them out.
    public var nextInstance: Int {
        var instance = 0
        while devices[instance] != nil || retiring.contains(instance) { instance += 1 }
        return instance
    }
}

/// The whole pool as pure data: every change is validated here before any backend or store sees it,
/// and a failed change leaves the model exactly as it was.
public struct PoolModel: Sendable, Equatable {
    /// The regions by region id.
    public internal(set) var regions: [Int: RegionState] = [:]

    /// The most recent memory-error events, oldest first (at most `retainedEvents`).
    public internal(set) var events: [MemoryErrorEvent] = []

    /// The sequence number of the newest event ever recorded.
    public internal(set) var lastEventSequence: UInt64 = 0

    /// An empty pool: no regions, no events.
    public init() {}

    /// Rebuilds a model from a persisted snapshot, checking every invariant on the way.
    public init(snapshot: PoolSnapshot) throws(PoolError) {
        for region in snapshot.regions {
            guard regions[region.config.id] == nil else { throw .regionExists(region.config.id) }
            if let problem = region.config.segmentsProblem() {
                throw .invalidLayout("region \(region.config.id): \(problem)")
            }
            var state = RegionState(config: region.config)
            for device in region.devices {
                guard device.record.id.region == region.config.id, state.devices[device.record.id.instance] == nil
                else { throw .invalidLayout("device \(device.record.id) appears twice or in the wrong region") }
                for extent in device.extents {
                    do {
                        try state.allocator.claim(
                            device: device.record.id.instance,
                            extent: extent,
                            alignment: device.record.align
                        )
                    } catch { throw .allocation(error) }
                }
                state.devices[device.record.id.instance] = device.record
            }
            state.pendingScrubs = region.pendingScrubs
            state.degraded = region.degraded
            for pending in region.pendingScrubs {
                for extent in pending.extents {
                    do { try state.allocator.quarantine(extent) } catch { throw .allocation(error) }
                }
            }
            state.badBlocks = region.badBlocks.reduce(into: []) { merged, block in
                merged = Self.merging(block, into: merged)
            }
            Self.quarantineFreeParts(of: state.badBlocks, in: &state.allocator)
            regions[region.config.id] = state
        }
        events = snapshot.events
        lastEventSequence = max(snapshot.lastEventSequence, snapshot.events.last?.sequence ?? 0)
    }

    /// The model as data a store can persist.
    public var snapshot: PoolSnapshot {
        PoolSnapshot(
            regions: regions.keys.sorted().compactMap { id in
                guard let region = regions[id] else { return nil }
                return RegionSnapshot(
                    config: region.config,
                    devices: region.settledDevices.map {
                        region.resizing[$0.id.instance]
                            ?? DeviceSnapshot(record: $0, extents: region.allocator.ranges(of: $0.id.instance))
                    },
                    badBlocks: region.badBlocks,
                    pendingScrubs: region.pendingScrubs,
                    degraded: region.degraded
                )
            },
            events: events,
            lastEventSequence: lastEventSequence
        )
    }

    /// Region ids in ascending order.
    public var regionIDs: [Int] { regions.keys.sorted() }

    /// The region a create request without a region id goes to (the first with room), for callers that need to
    /// know it before the device is made.
    public func targetRegion(_ regionID: Int?, size: ByteCount) throws(PoolError) -> Int {
        try chooseRegion(regionID, size: size)
    }

    /// The lowest unused region id.
    public var nextRegionID: Int {
        var id = 0
        while regions[id] != nil || retiringRegions.contains(id) { id += 1 }
        return id
    }

    /// Ids of destroyed regions whose backend is still cleaning up (after the destroy's commit): not given to a new
    /// region until that is done.
    public internal(set) var retiringRegions: Set<Int> = []

    /// Keeps a destroyed device's number (or, with `instance` nil, a destroyed region's id) from new devices (regions)
    /// while the backend takes its memory away; `done` gives it back.
    public mutating func retire(region: Int, instance: Int?, done: Bool = false) {
        if let instance {
            guard regions[region] != nil else { return }
            if done { regions[region]?.retiring.remove(instance) } else { regions[region]?.retiring.insert(instance) }
        } else if done {
            retiringRegions.remove(region)
        } else {
            retiringRegions.insert(region)
        }
    }

    /// Region `id`.
    /// - Throws: `.unknownRegion` when there is no such region.
    public func region(_ id: Int) throws(PoolError) -> RegionState {
        guard let region = regions[id] else { throw .unknownRegion(id) }
        return region
    }

    /// Device `id`, including one still being created.
    /// - Throws: `.unknownDevice` when there is no such device.
    public func device(_ id: DeviceID) throws(PoolError) -> DeviceRecord {
        guard let device = regions[id.region]?.devices[id.instance] else { throw .unknownDevice(id.description) }
        return device
    }

    /// The device named by `text`: a `daxR.N` id, or a device name.
    public func resolveDevice(_ text: String) throws(PoolError) -> DeviceRecord {
        if let id = DeviceID(parsing: text), let device = regions[id.region]?.devices[id.instance] {
            return device
        }
        for region in regions.values {
            if let device = region.devices.values.first(where: { $0.name?.value == text }) { return device }
        }
        throw .unknownDevice(text)
    }

    /// The extents of a device in page-offset order.
    public func extents(of id: DeviceID) -> [Extent] {
        regions[id.region]?.allocator.ranges(of: id.instance) ?? []
    }

    // MARK: - Regions

    /// Adds an empty region with `config`.
    /// - Throws: `.regionExists` when the id is taken (or its region is still being taken away), `.invalidRequest` for
    ///   a size of zero, `.allocation(.misaligned)` when the size is not a whole number of pages, and
    ///   `.regionPathConflict` when its directory overlaps another region's.
    public mutating func addRegion(_ config: RegionConfig) throws(PoolError) {
        guard regions[config.id] == nil, !retiringRegions.contains(config.id) else { throw .regionExists(config.id) }
        guard config.size.rawValue > 0 else { throw .invalidRequest("region size must be greater than zero") }
        guard config.size.isAligned(to: config.pageSize) else {
            throw .allocation(.misaligned(what: "region size", value: config.size.rawValue, alignment: config.pageSize))
        }
        try checkPath(of: config)
        regions[config.id] = RegionState(config: config)
    }

    /// Refuses a file-backed region (shm, hugetlb) whose path is, lies inside, or holds another file-backed
    /// region's directory (`RegionPathOverlap`): one directory has one owner.
    public func checkPath(of config: RegionConfig) throws(PoolError) {
        guard RegionPathOverlap.appliesTo(config.backend) else { return }
        for id in regionIDs where id != config.id {
            guard let other = regions[id]?.config, RegionPathOverlap.appliesTo(other.backend),
                let overlap = RegionPathOverlap(config.path, other.path)
            else { continue }
            throw .regionPathConflict(
                path: RegionPathOverlap.normalized(config.path), overlap: overlap, region: id,
                regionPath: RegionPathOverlap.normalized(other.path))
        }
    }

    /// Replaces a region's config with `config` (same id), for settings that do not move memory, such as its pool.
    /// Refuses a change of anything the region's layout depends on.
    public mutating func replaceConfig(_ config: RegionConfig) throws(PoolError) {
        var region = try region(config.id)
        var unchanged = config
        unchanged.pool = region.config.pool
        guard unchanged == region.config else {
            throw .invalidRequest("only a region's pool can change; its size, pages, node and path stay")
        }
        region.config = config
        regions[config.id] = region
    }

    /// Marks a new device as being created (see `RegionState.provisional`).
    public mutating func markProvisional(_ id: DeviceID) {
        regions[id.region]?.provisional.insert(id.instance)
    }

    /// A device being created is complete: it is persisted and listed from now on.
    public mutating func settle(_ id: DeviceID) {
        regions[id.region]?.provisional.remove(id.instance)
    }

    /// A device being created failed: its ranges and its name are free again.
    public mutating func abandon(_ id: DeviceID) {
        guard var region = regions[id.region], region.provisional.remove(id.instance) != nil else { return }
        region.allocator.release(device: id.instance)
        region.devices[id.instance] = nil
        Self.quarantineFreeParts(of: region.badBlocks, in: &region.allocator)
        regions[id.region] = region
    }

    /// Whether a device is still being created.
    public func isProvisional(_ id: DeviceID) -> Bool {
        regions[id.region]?.provisional.contains(id.instance) ?? false
    }

    /// Whether the backend is still working on a device (being created or growing): requests for it wait.
    public func isBusy(_ id: DeviceID) -> Bool {
        guard let region = regions[id.region] else { return false }
        return region.provisional.contains(id.instance) || region.resizing[id.instance] != nil
    }

    /// Marks a device as growing (see `RegionState.resizing`): `before` is what is persisted until `finishResize`.
    public mutating func markResizing(_ id: DeviceID, before: DeviceSnapshot) {
        regions[id.region]?.resizing[id.instance] = before
    }

    /// A device's growth is complete: its new size is persisted from now on.
    public mutating func finishResize(_ id: DeviceID) {
        regions[id.region]?.resizing[id.instance] = nil
    }

    /// A device's growth failed: it gets back its record and size as they were (the ranges it grew by are free
    /// again).
    public mutating func abandonResize(_ id: DeviceID) {
        guard var region = regions[id.region], let before = region.resizing.removeValue(forKey: id.instance) else {
            return
        }
        let size = ByteCount(before.extents.reduce(0) { $0 + $1.length.rawValue })
        try? region.allocator.resize(device: id.instance, to: size, alignment: before.record.align)
        Self.quarantineFreeParts(of: region.badBlocks, in: &region.allocator)
        region.devices[id.instance] = before.record
        regions[id.region] = region
    }

    /// Puts region `id` in doubt for `reasons` (adding to the doubt it already has).
    public mutating func markDegraded(_ id: Int, reasons: [String]) {
        guard var region = regions[id], !reasons.isEmpty else { return }
        region.degraded = (region.degraded ?? RegionDoubt(reasons: [])).adding(reasons)
        regions[id] = region
    }

    /// Removes region `id` from the model.
    /// - Throws: `.unknownRegion`, `.regionDegraded` when the region is in doubt, `.regionNotEmpty` while it has
    ///   devices, and `.scrubPending` while destroyed devices' memory still waits to be zeroed.
    public mutating func removeRegion(_ id: Int) throws(PoolError) {
        let region = try region(id)
        try region.requireSound(to: "destroy region \(id)")
        guard region.devices.isEmpty else { throw .regionNotEmpty(id, devices: region.sortedDevices.map(\.id)) }
        guard region.pendingScrubs.isEmpty else {
            throw .scrubPending(id, bytes: ByteCount(region.pendingScrubs.reduce(0) { $0 + $1.size.rawValue }))
        }
        regions[id] = nil
    }

    // MARK: - Devices

    /// Creates a device of `size` (or with exactly `layout`, in page-offset order) in `regionID`
    /// (or the first region with room when `nil`).
    public mutating func createDevice(
        region regionID: Int?,
        size: ByteCount?,
        align: Alignment?,
        name: DeviceName?,
        uuid: LabelUUID,
        layout: [Extent]? = nil,
        instance requestedInstance: Int? = nil,
        owner: UInt32? = nil
    ) throws(PoolError) -> DeviceRecord {
        try checkUnique(name: name, uuid: uuid, except: nil)
        let id = try chooseRegion(regionID, size: size ?? ByteCount(layout?.reduce(0) { $0 + $1.length.rawValue } ?? 0))
        var region = try region(id)
        try region.requireSound(to: "create a device")
        let alignment = align ?? defaultAlignment(region.config)
        try checkAlignment(alignment, region.config)
        let instance = requestedInstance ?? region.nextInstance
        guard region.devices[instance] == nil, !region.retiring.contains(instance) else {
            throw .invalidRequest("device instance \(instance) of region \(id) already exists")
        }
        let record = DeviceRecord(
            id: DeviceID(region: id, instance: instance),
            uuid: uuid,
            name: name,
            align: alignment,
            state: .enabled,
            owner: owner
        )
        if let layout {
            guard !layout.isEmpty else { throw .invalidLayout("the layout has no mappings") }
            for extent in layout {
                do { try region.allocator.claim(device: instance, extent: extent, alignment: alignment) } catch {
                    throw .allocation(error)
                }
            }
            if let size, size != region.allocator.size(of: instance) {
                throw .invalidLayout(
                    "the mappings add up to \(region.allocator.size(of: instance)) bytes but size is \(size) bytes"
                )
            }
        } else {
            let wanted = size ?? region.allocator.largestDevice(alignment: alignment)
            guard wanted.rawValue > 0 else {
                if size == nil {
                    throw .allocation(
                        .insufficientSpace(
                            requested: alignment.byteCount, available: .zero,
                            largestFreeExtent: region.allocator.largestFreeExtent(alignment: alignment),
                            segments: region.allocator.parts.count)
                    )
                }
                throw .allocation(.zeroSize)
            }
            do { try region.allocator.resize(device: instance, to: wanted, alignment: alignment) } catch {
                throw .allocation(error)
            }
        }
        region.devices[instance] = record
        regions[id] = region
        return record
    }

    /// Resizes and/or realigns a device. Like the kernel, this needs a disabled device.
    public mutating func reconfigureDevice(
        _ id: DeviceID,
        size: ByteCount?,
        align: Alignment?,
        force: Bool = false
    ) throws(PoolError) -> DeviceRecord {
        var record = try device(id)
        var region = try region(id.region)
        try region.requireSound(to: "reconfigure \(id)")
        try requireNotLent(record, to: "reconfigure")
        guard record.state == .disabled || force else { throw .deviceEnabled(id, operation: "reconfigure") }
        if let size, size < region.allocator.size(of: id.instance), !record.leases.isEmpty, !force {
            throw .deviceLeased(id, holders: record.leases, operation: "shrink")
        }
        if let align {
            try checkAlignment(align, region.config)
            for extent in region.allocator.ranges(of: id.instance) {
                guard extent.start.isAligned(to: align), extent.length.isAligned(to: align) else {
                    throw .allocation(
                        .misaligned(what: "mapping \(extent)", value: extent.start.rawValue, alignment: align))
                }
            }
            record.align = align
        }
        if let size {
            guard size.rawValue > 0 else {
                throw .invalidRequest("size must be greater than zero: use destroy-device to remove \(id)")
            }
            do { try region.allocator.resize(device: id.instance, to: size, alignment: record.align) } catch {
                throw .allocation(error)
            }
            Self.quarantineFreeParts(of: region.badBlocks, in: &region.allocator)
        }
        region.devices[id.instance] = record
        regions[id.region] = region
        return record
    }

    /// Removes a device and frees its ranges. An enabled device needs `force`.
    public mutating func destroyDevice(_ id: DeviceID, force: Bool) throws(PoolError) {
        let record = try device(id)
        try requireNotLent(record, to: "destroy")
        guard record.leases.isEmpty || force else {
            throw .deviceLeased(id, holders: record.leases, operation: "destroy")
        }
        guard record.state == .disabled || force else { throw .deviceEnabled(id, operation: "destroy") }
        guard var region = regions[id.region] else { throw .unknownRegion(id.region) }
        try region.requireSound(to: "destroy \(id)")
        region.allocator.release(device: id.instance)
        region.devices[id.instance] = nil
        Self.quarantineFreeParts(of: region.badBlocks, in: &region.allocator)
        regions[id.region] = region
    }

    /// Enables or disables a device. Disabling a leased device needs `force`.
    public mutating func setState(_ id: DeviceID, _ state: DeviceState, force: Bool = false) throws(PoolError) {
        let record = try device(id)
        try requireNotLent(record, to: state == .enabled ? "enable" : "disable")
        if state == .disabled, record.state == .enabled, !record.leases.isEmpty, !force {
            throw .deviceLeased(id, holders: record.leases, operation: "disable")
        }
        regions[id.region]?.devices[id.instance]?.state = state
    }

    // MARK: - Owners and leases

    /// Gives every device without an owner (state written before devices had owners) to `owner`.
    public mutating func assignOwnerToUnownedDevices(_ owner: UInt32) {
        for (regionID, region) in regions {
            for (instance, device) in region.devices where device.owner == nil {
                regions[regionID]?.devices[instance]?.owner = owner
            }
        }
    }

    /// Records that `lease.pid` holds the device.
    public mutating func addLease(_ lease: Lease, to id: DeviceID) throws(PoolError) {
        let record = try device(id)
        guard !record.leases.contains(where: { $0.pid == lease.pid }) else {
            throw .leaseExists(id, pid: lease.pid)
        }
        regions[id.region]?.devices[id.instance]?.leases.append(lease)
    }

    /// Ends `pid`'s lease on the device.
    public mutating func removeLease(pid: Int32, from id: DeviceID) throws(PoolError) {
        let record = try device(id)
        guard record.leases.contains(where: { $0.pid == pid }) else { throw .noLease(id, pid: pid) }
        regions[id.region]?.devices[id.instance]?.leases.removeAll { $0.pid == pid }
    }

    /// Ends every lease `pid` holds (its process exited); returns the devices it held.
    @discardableResult
    public mutating func removeLeases(pid: Int32) -> [DeviceID] {
        var released: [DeviceID] = []
        for (regionID, region) in regions {
            for (instance, device) in region.devices where device.leases.contains(where: { $0.pid == pid }) {
                regions[regionID]?.devices[instance]?.leases.removeAll { $0.pid == pid }
                released.append(device.id)
            }
        }
        return released.sorted()
    }

    /// Every lease of every device.
    public var leases: [(device: DeviceID, lease: Lease)] {
        regionIDs.flatMap { id in
            (regions[id]?.sortedDevices ?? []).flatMap { device in device.leases.map { (device.id, $0) } }
        }
    }

    // MARK: - Checks

    private func defaultAlignment(_ config: RegionConfig) -> Alignment {
        max(config.pageSize, min(config.align, .page2M))
    }

    private func checkAlignment(_ alignment: Alignment, _ config: RegionConfig) throws(PoolError) {
        guard alignment >= config.pageSize else { throw .alignmentTooSmall(alignment, pageSize: config.pageSize) }
        guard alignment <= config.align else { throw .alignmentTooLarge(alignment, regionAlign: config.align) }
    }

    private func checkUnique(name: DeviceName?, uuid: LabelUUID, except: DeviceID?) throws(PoolError) {
        for region in regions.values {
            for device in region.devices.values where device.id != except {
                if let name, device.name == name { throw .duplicateName(name.value, holder: device.id) }
                if device.uuid == uuid { throw .duplicateUUID(uuid, holder: device.id) }
            }
        }
    }

    private func chooseRegion(_ regionID: Int?, size: ByteCount) throws(PoolError) -> Int {
        if let regionID {
            _ = try region(regionID)
            return regionID
        }
        // A region in doubt is never chosen for a new device.
        let ids = regionIDs.filter { regions[$0]?.degraded == nil }
        guard let first = ids.first ?? regionIDs.first else { throw .noRegion }
        return ids.first { id in
            guard let region = regions[id] else { return false }
            return region.allocator.largestDevice(alignment: region.config.pageSize) >= size
        } ?? first
    }
}
