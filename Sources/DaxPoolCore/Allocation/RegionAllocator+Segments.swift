extension RegionAllocator {
    /// The parts of the region's offset space that `barriers` cut it into, in address order: `[0, size)` for a
    /// region of one part.
    public var parts: [(start: UInt64, end: UInt64)] {
        var result: [(start: UInt64, end: UInt64)] = []
        var start: UInt64 = 0
        for barrier in barriers {
            result.append((start, barrier))
            start = barrier
        }
        result.append((start, size.rawValue))
        return result
    }

    /// The index in `parts` of the part that holds `offset`.
    public func part(holding offset: RegionOffset) -> Int {
        var low = 0
        var high = barriers.count
        while low < high {
            let middle = (low + high) / 2
            if barriers[middle] <= offset.rawValue { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The largest device aligned to `alignment` a create can have now: the most free memory usable at that
    /// alignment in any one part (`availableSize(alignment:)` for a region of one part). Always a multiple of
    /// `alignment`, and a create of that size succeeds.
    public func largestDevice(alignment: Alignment) -> ByteCount {
        guard !barriers.isEmpty else { return availableSize(alignment: alignment) }
        return ByteCount(parts.indices.map { usable(inPart: $0, alignment: alignment).total }.max() ?? 0)
    }

    /// The free gaps that meet `[start, end)`, cut to it, in address order. Walks the extents from `start` on:
    /// O(k log n) for the k extents in the range.
    func freeGaps(from start: UInt64, to end: UInt64) -> [(start: UInt64, end: UInt64)] {
        var gaps: [(start: UInt64, end: UInt64)] = []
        guard start < end else { return gaps }
        var cursor = tree.last(atOrBefore: start)
        if cursor == nil {
            let head = headGapEnd
            if start < head { gaps.append((start, min(head, end))) }
            guard head < end else { return gaps }
            cursor = tree.first
        }
        while let element = cursor, element.start < end {
            let low = max(element.end, start)
            let high = min(element.gapEnd, end)
            if low < high { gaps.append((low, high)) }
            guard element.gapEnd < end, element.gapEnd < size.rawValue else { break }
            // The next extent starts where this one's gap ends.
            cursor = tree.last(atOrBefore: element.gapEnd)
            if cursor?.start != element.gapEnd { break }
        }
        return gaps
    }

    /// What part `index` offers a device aligned to `alignment`: its gaps' usable bytes added up, and the largest.
    func usable(inPart index: Int, alignment: Alignment) -> (total: UInt64, largest: UInt64) {
        let mask = alignment.rawValue - 1
        let bounds = parts[index]
        var total: UInt64 = 0
        var largest: UInt64 = 0
        for gap in freeGaps(from: bounds.start, to: bounds.end) {
            guard let usable = ExtentTree.usable(from: gap.start, to: gap.end, mask: mask) else { continue }
            total += usable.length
            largest = max(largest, usable.length)
        }
        return (total, largest)
    }

    /// The free gaps in address order, cut at `barriers`.
    var segmentedFreeExtents: [Extent] {
        parts.flatMap { bounds in
            freeGaps(from: bounds.start, to: bounds.end).map {
                Extent(start: RegionOffset($0.start), length: ByteCount($0.end - $0.start))
            }
        }
    }

    /// The part a device of `current` bytes grows `wanted` bytes in: the one its ranges lie in, or for a new device
    /// the first with room for all of it.
    /// - Throws: `.insufficientSpace` whose `available` is the largest size the device can have (its part's free
    ///   memory added to what it has, or the largest device that fits in one part), a multiple of `alignment`.
    func partToGrow(device: Int, current: ByteCount, by wanted: ByteCount, alignment: Alignment)
        throws(AllocationError) -> Int
    {
        let requested = ByteCount(current.rawValue + wanted.rawValue)
        if let first = ranges(of: device).first {
            let part = part(holding: first.start)
            let offer = usable(inPart: part, alignment: alignment)
            guard offer.total >= wanted.rawValue else {
                throw .insufficientSpace(
                    requested: requested, available: ByteCount(current.rawValue + offer.total),
                    largestFreeExtent: ByteCount(offer.largest), segments: parts.count)
            }
            return part
        }
        let offers = parts.indices.map { usable(inPart: $0, alignment: alignment) }
        guard let part = offers.firstIndex(where: { $0.total >= wanted.rawValue }) else {
            throw .insufficientSpace(
                requested: requested, available: ByteCount(offers.map(\.total).max() ?? 0),
                largestFreeExtent: ByteCount(offers.map(\.largest).max() ?? 0), segments: parts.count)
        }
        return part
    }

    /// What `barriers` would cut through: each occupied extent that lies across one, and each device whose ranges
    /// lie in more than one part; empty when every device and quarantined extent lies in one part.
    public func straddling(_ barriers: [UInt64]) -> [(extent: Extent, owner: ExtentOwner)] {
        let cuts = RegionAllocator(size: size, barriers: barriers)
        var found: [(extent: Extent, owner: ExtentOwner)] = []
        var partOfDevice: [Int: Int] = [:]
        for (extent, owner) in occupiedExtents {
            let part = cuts.part(holding: extent.start)
            if extent.length.rawValue > 0, cuts.part(holding: RegionOffset(extent.end.rawValue - 1)) != part {
                found.append((extent, owner))
                continue
            }
            guard case .device(let instance) = owner else { continue }
            if let other = partOfDevice[instance], other != part {
                found.append((extent, owner))
            } else {
                partOfDevice[instance] = part
            }
        }
        return found
    }
}
