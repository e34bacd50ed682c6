extension RegionAllocator {
    /// The occupied extents (device ranges and quarantined blocks) that reach past `size`, in address order:
    /// what holds the tail a region shrinking to `size` would lose.
    public func extents(reachingPast size: ByteCount) -> [(extent: Extent, owner: ExtentOwner)] {
        occupiedExtents.filter { $0.extent.end.rawValue > size.rawValue }
    }

    /// The smallest size the region can shrink to: the end of its last occupied extent (0 when nothing is occupied).
    public var occupiedEnd: ByteCount {
        ByteCount(occupiedExtents.last.map { $0.extent.end.rawValue } ?? 0)
    }

    /// This allocator with the region's end moved to `newSize`: every device keeps exactly its ranges (in
    /// page-offset order) and every quarantined extent stays; growing adds free space at the end, shrinking removes
    /// only free space at the end. The region's parts are cut at `barriers` (`nil`: the barriers it has, those
    /// inside `newSize`).
    /// - Throws: `.outOfRegion` naming the first occupied extent that reaches past `newSize`, `.rangeInUse` naming
    ///   one that `barriers` would cut through or that lies in another part than its device's other ranges (nothing
    ///   is changed).
    public func resized(to newSize: ByteCount, barriers: [UInt64]? = nil) throws(AllocationError) -> RegionAllocator {
        if let first = extents(reachingPast: newSize).first {
            throw .outOfRegion(first.extent, regionSize: newSize)
        }
        if let barriers, let cut = straddling(barriers).first {
            throw .rangeInUse(cut.extent, owner: cut.owner)
        }
        var resized = RegionAllocator(size: newSize, barriers: barriers ?? self.barriers)
        for device in devices {
            for range in ranges(of: device) {
                try resized.claim(device: device, extent: range, alignment: .page4K)
            }
        }
        for extent in quarantined {
            try resized.quarantine(extent)
        }
        return resized
    }
}
