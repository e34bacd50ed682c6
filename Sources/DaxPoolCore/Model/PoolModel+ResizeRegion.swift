extension PoolModel {
    /// Grows or shrinks region `id` to `newSize`, keeping every device's ranges exactly: growing adds free memory at
    /// the end of the region, shrinking removes only free memory at its end. A failure changes nothing.
    ///
    /// `segments` are the parts the region's memory is in afterwards (`RegionConfig.segments`, as the backend made
    /// them: a hugetlb region's mounts). Without them a region of one part stays one part, and a region of more
    /// grows by a new part at its end or shrinks by its last parts.
    /// - Returns: the region's new config.
    /// - Throws: `.unknownRegion`; `.regionDegraded` for a region in doubt; `.invalidRequest` for a size of zero or
    ///   one its pool's files do not fit in; `.allocation(.misaligned)` for a size that is not a whole number of the
    ///   region's pages; `.regionTailInUse` naming what holds memory past `newSize` (devices, including ones being
    ///   created; destroyed devices' memory waiting to be zeroed; quarantined bad blocks); `.invalidLayout` for
    ///   `segments` that do not add up to `newSize` or would cut through a device.
    @discardableResult
    public mutating func resizeRegion(_ id: Int, to newSize: ByteCount, segments: [ByteCount]? = nil)
        throws(PoolError) -> RegionConfig
    {
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
        config.segments = Self.segments(segments ?? Self.defaultSegments(of: region.config, to: newSize))
        if let problem = config.segmentsProblem() { throw .invalidLayout("region \(id): \(problem)") }
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
            region.allocator = try region.allocator.resized(to: newSize, barriers: config.segmentBoundaries)
        } catch .rangeInUse(let extent, let owner) {
            throw .invalidLayout(
                "region \(id)'s parts (\(config.segments.map { String($0.rawValue) }.joined(separator: ", ")) bytes) "
                    + "would cut through \(Self.describe(owner, extent: extent, in: region)), which lies in one")
        } catch {
            throw .allocation(error)
        }
        region.config = config
        regions[id] = region
        return config
    }

    /// A region's parts as `RegionConfig.segments` keeps them: empty for one part.
    static func segments(_ parts: [ByteCount]) -> [ByteCount] { parts.count > 1 ? parts : [] }

    /// The parts of `config`'s region at `newSize` when no backend says: one part stays one; more grow by a new part
    /// at the end, or shrink by their last parts.
    static func defaultSegments(of config: RegionConfig, to newSize: ByteCount) -> [ByteCount] {
        guard !config.segments.isEmpty else { return [] }
        if newSize > config.size { return config.segments + [ByteCount(newSize.rawValue - config.size.rawValue)] }
        var parts: [ByteCount] = []
        var total: UInt64 = 0
        for part in config.segments where total < newSize.rawValue {
            parts.append(ByteCount(min(part.rawValue, newSize.rawValue - total)))
            total += parts[parts.count - 1].rawValue
        }
        return parts
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
