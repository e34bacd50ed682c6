/// Memory errors: attribution, quarantine and the event log.
extension PoolModel {
    /// How many events the model keeps for clients that connect later.
    public static let retainedEvents = 1024

    /// Records a memory error at `offset` (length `length`) of a region: rounds the range out to `granule`,
    /// quarantines it (now for free memory, and when the device that holds it lets it go), and appends an
    /// event per device it touches (one event without a device if it touches none).
    public mutating func recordMemoryError(
        region regionID: Int,
        offset: RegionOffset,
        length: ByteCount,
        granule: Alignment,
        source: String,
        time: Int64
    ) throws(PoolError) -> [MemoryErrorEvent] {
        let region = try region(regionID)
        guard length.rawValue > 0 else { throw .invalidRequest("length must be greater than zero") }
        guard offset.rawValue < region.config.size.rawValue,
            length.rawValue <= region.config.size.rawValue - offset.rawValue
        else {
            throw .invalidRequest(
                "range \(offset)+\(length) lies outside region \(regionID) (size \(region.config.size) bytes)"
            )
        }
        let mask = granule.rawValue - 1
        let start = offset.rawValue & ~mask
        let end = min((offset.rawValue + length.rawValue + mask) & ~mask, region.config.size.rawValue)
        let bad = Extent(start: RegionOffset(start), length: ByteCount(end - start))
        var state = region
        state.badBlocks = Self.merging(bad, into: state.badBlocks)
        Self.quarantineFreeParts(of: state.badBlocks, in: &state.allocator)
        var produced: [MemoryErrorEvent] = []
        var sequence = lastEventSequence
        for (extent, owner) in state.allocator.occupiedExtents where extent.overlaps(bad) {
            guard case .device(let instance) = owner, let record = state.devices[instance] else { continue }
            let overlapStart = max(extent.start.rawValue, bad.start.rawValue)
            let overlapEnd = min(extent.end.rawValue, bad.end.rawValue)
            let deviceOffset = state.allocator.deviceOffset(at: RegionOffset(overlapStart))?.offset.rawValue
            sequence += 1
            produced.append(
                makeEvent(
                    sequence: sequence, time: time, source: source, region: regionID, start: overlapStart,
                    length: overlapEnd - overlapStart,
                    granule: granule.rawValue, record: record, deviceOffset: deviceOffset
                )
            )
        }
        if produced.isEmpty {
            sequence += 1
            produced.append(
                makeEvent(
                    sequence: sequence, time: time, source: source, region: regionID, start: start, length: end - start,
                    granule: granule.rawValue, record: nil, deviceOffset: nil
                )
            )
        }
        regions[regionID] = state
        lastEventSequence = sequence
        events.append(contentsOf: produced)
        if events.count > Self.retainedEvents { events.removeFirst(events.count - Self.retainedEvents) }
        return produced
    }

    /// Forgets bad blocks inside `extent` (after the memory was scrubbed and verified) and frees the
    /// quarantined memory there.
    public mutating func clearBadBlocks(region regionID: Int, extent: Extent) throws(PoolError) -> Int {
        var state = try region(regionID)
        var kept: [Extent] = []
        var cleared = 0
        for block in state.badBlocks {
            if !block.overlaps(extent) {
                kept.append(block)
                continue
            }
            cleared += 1
            if block.start < extent.start {
                kept.append(Extent(start: block.start, length: ByteCount(extent.start.rawValue - block.start.rawValue)))
            }
            if block.end > extent.end {
                kept.append(Extent(start: extent.end, length: ByteCount(block.end.rawValue - extent.end.rawValue)))
            }
        }
        guard cleared > 0 else { return 0 }
        state.badBlocks = kept
        state.allocator = try Self.rebuiltAllocator(of: state)
        regions[regionID] = state
        return cleared
    }

    /// A device's bad blocks as offsets inside the device.
    public func badBlocks(of id: DeviceID) -> [Extent] {
        guard let region = regions[id.region] else { return [] }
        var found: [Extent] = []
        var base: UInt64 = 0
        for range in region.allocator.ranges(of: id.instance) {
            for block in region.badBlocks where block.overlaps(range) {
                let start = max(block.start.rawValue, range.start.rawValue)
                let end = min(block.end.rawValue, range.end.rawValue)
                found.append(
                    Extent(start: RegionOffset(base + start - range.start.rawValue), length: ByteCount(end - start)))
            }
            base += range.length.rawValue
        }
        return found
    }

    /// Quarantines whatever part of `blocks` is free now (after a device released memory).
    static func quarantineFreeParts(of blocks: [Extent], in allocator: inout RegionAllocator) {
        guard !blocks.isEmpty else { return }
        for gap in allocator.freeExtents {
            for block in blocks where block.overlaps(gap) {
                let start = max(block.start.rawValue, gap.start.rawValue)
                let end = min(block.end.rawValue, gap.end.rawValue)
                try? allocator.quarantine(Extent(start: RegionOffset(start), length: ByteCount(end - start)))
            }
        }
    }

    static func merging(_ extent: Extent, into blocks: [Extent]) -> [Extent] {
        var all = (blocks + [extent]).sorted { $0.start < $1.start }
        var merged: [Extent] = []
        for block in all {
            if let last = merged.last, block.start <= last.end {
                merged[merged.count - 1].length = ByteCount(
                    max(last.end.rawValue, block.end.rawValue) - last.start.rawValue)
            } else {
                merged.append(block)
            }
        }
        all = merged
        return all
    }

    /// Records that the owner of `id` grew the device's memory `excess` bytes past its size (a file backend's file
    /// grown with `ftruncate` or `fallocate`): an event with source `excess` whose `length` is the excess and whose
    /// `device_offset` is the device's size, where the excess begins. Nothing is quarantined: the excess is cut back
    /// when the device is destroyed.
    public mutating func recordExcess(of id: DeviceID, excess: ByteCount, time: Int64) throws(PoolError)
        -> MemoryErrorEvent
    {
        let region = try region(id.region)
        guard let record = region.devices[id.instance] else { throw .unknownDevice(id.description) }
        let extents = region.allocator.ranges(of: id.instance)
        let size = extents.reduce(0) { $0 + $1.length.rawValue }
        lastEventSequence += 1
        let event = makeEvent(
            sequence: lastEventSequence, time: time, source: "excess", region: id.region,
            start: extents.last.map { $0.end.rawValue } ?? 0, length: excess.rawValue,
            granule: region.config.pageSize.rawValue, record: record, deviceOffset: size
        )
        events.append(event)
        if events.count > Self.retainedEvents { events.removeFirst(events.count - Self.retainedEvents) }
        return event
    }

    /// Records what the daemon found in its persisted state at start (`source`: `repair`, `degraded` or
    /// `lost+found`), so that administrators reading events learn of it.
    /// - Returns: the event.
    public mutating func recordStateEvent(region: Int, source: String, detail: String, time: Int64) -> MemoryErrorEvent
    {
        lastEventSequence += 1
        let event = MemoryErrorEvent(
            sequence: lastEventSequence, time: time, source: source, region: region, regionOffset: 0, length: 0,
            granule: 0, detail: detail)
        events.append(event)
        if events.count > Self.retainedEvents { events.removeFirst(events.count - Self.retainedEvents) }
        return event
    }

    private func makeEvent(
        sequence: UInt64,
        time: Int64,
        source: String,
        region: Int,
        start: UInt64,
        length: UInt64,
        granule: UInt64,
        record: DeviceRecord?,
        deviceOffset: UInt64?
    ) -> MemoryErrorEvent {
        MemoryErrorEvent(
            sequence: sequence,
            time: time,
            source: source,
            region: region,
            regionOffset: start,
            length: length,
            granule: granule,
            device: record?.id.description,
            deviceOffset: deviceOffset,
            deviceUUID: record?.uuid.description,
            deviceName: record?.name?.value
        )
    }
}
