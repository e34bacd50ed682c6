extension PoolModel {
    /// Grows or shrinks region `id` to `newSize`, keeping every device's ranges exactly: growing adds free memory at
    /// the end of the region, shrinking removes only free memory at its end. A failure changes nothing.
    /// - Returns: the region's new config.
    /// - Throws: `.unknownRegion`; `.regionDegraded` for a region in doubt; `.invalidRequest` for a size of zero or
    ///   one its pool's files do not fit in; `.allocation(.misaligned)` for a size that is not a whole number of the
    ///   region's pages; `.regionTailInUse` naming what holds memory past `newSize` (devices, including ones being
    ///   created; destroyed devices' memory waiting to be zeroed; quarantined bad blocks).
    @discardableResult
    public mutating func resizeRegion(_ id: Int, to newSize: ByteCount) throws(PoolError) -> RegionConfig {
        var region = try region(id)
        try region.requireSound(to: "resize region \(id)")
        guard newSize.rawValue > 0 else {
            throw .invalidRequest("size must be greater than zero: use destroy-region to remove region \(id)")
        }
        guard newSize.isAligned(to: region.config.pageSize) else {
            throw .allocation(
                .misaligned(what: "region size", value: newSize.rawValue, alignment: region.config.pageSize))
        }
        var config = region.config
        config.size = newSize
        if let problem = config.poolProblem() {
            throw .invalidRequest(
                "\(problem): make the pool smaller first ('daxpool set-pool -r \(id) ...'), then resize")
        }
        let tail = region.allocator.extents(reachingPast: newSize)
        guard tail.isEmpty else {
            var holders: [String] = []
            for (extent, owner) in tail {
                let holder = Self.describe(owner, extent: extent, in: region)
                if !holders.contains(holder) { holders.append(holder) }
            }
            let end = region.allocator.occupiedEnd
            let pageSize = region.config.pageSize
            let smallest =
                end.isAligned(to: pageSize)
                ? end : ByteCount(end.roundedDown(to: pageSize).rawValue + pageSize.rawValue)
            throw .regionTailInUse(id, size: newSize, holders: holders, smallest: smallest)
        }
        do {
            region.allocator = try region.allocator.resized(to: newSize)
        } catch {
            throw .allocation(error)
        }
        region.config = config
        regions[id] = region
        return config
    }

    /// Who holds `extent` of `region`, as a refusal names it.
    private static func describe(_ owner: ExtentOwner, extent: Extent, in region: RegionState) -> String {
        switch owner {
        case .device(let instance):
            let device = DeviceID(region: region.config.id, instance: instance)
            let being = region.provisional.contains(instance) ? ", being created" : ""
            return "\(device) (range \(extent)\(being))"
        case .quarantine:
            if let scrub = region.pendingScrubs.first(where: { $0.extents.contains { $0.overlaps(extent) } }) {
                return "the memory of destroyed \(scrub.device) (range \(extent), waiting to be zeroed)"
            }
            return "a quarantined bad block (range \(extent))"
        }
    }
}
