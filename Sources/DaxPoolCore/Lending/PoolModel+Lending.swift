/// Lent devices: a devdax region's memory given to the host as System RAM (`DeviceState.lent`). A lent device holds
/// its ranges in the allocator like any device, so the region's `available_size` leaves it out and the layout is
/// persisted (journal and labels) and rebuilt like every other.
extension PoolModel {
    /// Throws when `record` is lent: only `reclaim` may touch a device the host uses as System RAM.
    public func requireNotLent(_ record: DeviceRecord, to action: String) throws(PoolError) {
        guard record.state == .lent else { return }
        throw .invalidRequest(
            "\(record.id) is lent to the host as System RAM, so daxpool will not \(action) it: take it back first "
                + "with 'daxpool reclaim \(record.id)'")
    }

    /// Adds a lent device over exactly `extents` (whole memory blocks, `LendPlan.extents`), as instance `instance`.
    public mutating func lendDevice(
        region regionID: Int, extents: [Extent], instance: Int, uuid: LabelUUID, name: DeviceName?, owner: UInt32?
    ) throws(PoolError) -> DeviceRecord {
        var record = try createDevice(
            region: regionID, size: nil, align: nil, name: name, uuid: uuid, layout: extents, instance: instance,
            owner: owner)
        record.state = .lent
        regions[regionID]?.devices[instance] = record
        return record
    }

    /// Removes a lent device whose memory the backend took back from the host and zeroed: its ranges are free.
    public mutating func returnLent(_ id: DeviceID) throws(PoolError) {
        let record = try device(id)
        guard record.state == .lent else {
            throw .invalidRequest("\(id) is not lent to the host: there is nothing to reclaim")
        }
        guard var region = regions[id.region] else { throw .unknownRegion(id.region) }
        region.allocator.release(device: id.instance)
        region.devices[id.instance] = nil
        Self.quarantineFreeParts(of: region.badBlocks, in: &region.allocator)
        regions[id.region] = region
    }

    /// The region's lent devices with their sizes, in instance order.
    public func lentDevices(in regionID: Int) -> [(id: DeviceID, size: ByteCount)] {
        guard let region = regions[regionID] else { return [] }
        return region.sortedDevices.filter { $0.state == .lent }.map {
            ($0.id, region.allocator.size(of: $0.id.instance))
        }
    }
}
