/// Scrubbing off the request path: a destroyed device's memory becomes a pending scrub, and is free again only
/// when the scrub is done.
extension PoolModel {
    /// Removes a device whose memory the backend zeroes before reuse. Its extents leave the device but stay out
    /// of free space, as a pending scrub named `token`, until `finishScrub`. An enabled device needs `force`.
    /// - Returns: the pending scrub.
    public mutating func destroyDevice(
        _ id: DeviceID,
        force: Bool,
        scrubToken token: String
    ) throws(PoolError) -> PendingScrub {
        let record = try device(id)
        guard record.leases.isEmpty || force else {
            throw .deviceLeased(id, holders: record.leases, operation: "destroy")
        }
        guard record.state == .disabled || force else { throw .deviceEnabled(id, operation: "destroy") }
        guard var region = regions[id.region] else { throw .unknownRegion(id.region) }
        try region.requireSound(to: "destroy \(id)")
        guard !token.isEmpty, !region.pendingScrubs.contains(where: { $0.token == token }) else {
            throw .invalidRequest("scrub token '\(token)' is empty or already in use")
        }
        let extents = region.allocator.ranges(of: id.instance)
        region.allocator.release(device: id.instance)
        region.devices[id.instance] = nil
        for extent in extents {
            do { try region.allocator.quarantine(extent) } catch { throw .allocation(error) }
        }
        let pending = PendingScrub(
            id: (region.pendingScrubs.map(\.id).max() ?? 0) + 1,
            device: id,
            deviceUUID: record.uuid,
            deviceName: record.name,
            extents: extents,
            token: token
        )
        region.pendingScrubs.append(pending)
        regions[id.region] = region
        return pending
    }

    /// Every pending scrub, oldest first within each region.
    public var pendingScrubs: [(region: RegionConfig, scrub: PendingScrub)] {
        regionIDs.flatMap { id -> [(region: RegionConfig, scrub: PendingScrub)] in
            guard let region = regions[id] else { return [] }
            return region.pendingScrubs.map { (region.config, $0) }
        }
    }

    /// Frees the extents of a finished scrub (bad blocks among them stay quarantined).
    public mutating func finishScrub(region regionID: Int, id: UInt64) throws(PoolError) {
        var state = try region(regionID)
        guard let index = state.pendingScrubs.firstIndex(where: { $0.id == id }) else {
            throw .invalidRequest("region \(regionID) has no pending scrub \(id)")
        }
        state.pendingScrubs.remove(at: index)
        state.allocator = try Self.rebuiltAllocator(of: state)
        regions[regionID] = state
    }

    /// An allocator holding exactly the region's devices, with pending scrubs and free bad blocks quarantined.
    static func rebuiltAllocator(of state: RegionState) throws(PoolError) -> RegionAllocator {
        var allocator = RegionAllocator(size: state.config.size)
        do throws(AllocationError) {
            for record in state.sortedDevices {
                for range in state.allocator.ranges(of: record.id.instance) {
                    try allocator.claim(device: record.id.instance, extent: range, alignment: .page4K)
                }
            }
            for pending in state.pendingScrubs {
                for extent in pending.extents { try allocator.quarantine(extent) }
            }
        } catch {
            throw .allocation(error)
        }
        quarantineFreeParts(of: state.badBlocks, in: &allocator)
        return allocator
    }
}
