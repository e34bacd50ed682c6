import DaxPoolCore

/// daxpool's first allocator, kept verbatim in one place for two uses: occupied extents in a sorted array and the
/// kernel's linear first-fit walk (`drivers/dax/bus.c` `dev_dax_resize` walks the region's resource list).
///
/// - The oracle for the tree-based `RegionAllocator` (`init(size:)`): slow (O(n) per change) but obviously right;
///   the scale tests require the new allocator to give exactly its answers.
/// - The baseline of the benchmark's allocator rows (`baseline(size:)`): its cost is what the kernel's algorithm
///   costs, O(n) per allocation, O(n) array insert and remove, O(log n) lookup by binary search.
public struct LinearAllocator: Sendable, Equatable {
    /// The region's size; offsets run from 0 to `size`.
    public let size: ByteCount

    /// Occupied extents sorted by start; never overlapping.
    private var occupied: [OccupiedExtent] = []

    /// Each device's ranges in page-offset order.
    private var deviceRanges: [Int: [Extent]] = [:]

    private var allocatedBytes: UInt64 = 0

    /// An occupied extent and who holds it.
    public struct OccupiedExtent: Sendable, Equatable {
        /// The bytes held.
        public var extent: Extent
        /// The device or quarantine holding them.
        public var owner: ExtentOwner
    }

    /// How a grow is checked and applied.
    public enum Mode: Sendable, Equatable {
        /// The oracle: a grow is checked against the free space usable at its alignment (the answers the tree
        /// allocator gives, errors included) and works on a copy, so a failure changes nothing.
        case reference
        /// The benchmark baseline: a grow is checked against the available size only and works in place, so that
        /// it measures the walk itself, as the kernel does it. daxpool's first allocator grew a copy of itself,
        /// which copies all n extents per allocation.
        case baseline
    }

    /// How this allocator grows a device.
    public let mode: Mode

    /// An empty region of `size` bytes, as the test oracle (`Mode.reference`).
    public init(size: ByteCount) {
        self.size = size
        mode = .reference
    }

    /// An empty region of `size` bytes, as the benchmark baseline (`Mode.baseline`).
    public static func baseline(size: ByteCount) -> LinearAllocator {
        LinearAllocator(size: size, mode: .baseline)
    }

    private init(size: ByteCount, mode: Mode) {
        self.size = size
        self.mode = mode
    }

    /// Bytes not held by any device or quarantine.
    public var availableSize: ByteCount { ByteCount(size.rawValue - allocatedBytes) }

    /// The device instances that hold memory, in ascending order.
    public var devices: [Int] { deviceRanges.keys.sorted() }

    /// The number of occupied extents (device ranges and quarantined blocks).
    public var extentCount: Int { occupied.count }

    /// A device's ranges in page-offset order (empty for an unknown or zero-sized device).
    public func ranges(of device: Int) -> [Extent] { deviceRanges[device] ?? [] }

    /// The sum of a device's ranges.
    public func size(of device: Int) -> ByteCount {
        ByteCount(ranges(of: device).reduce(0) { $0 + $1.length.rawValue })
    }

    /// Every occupied extent with its owner, in address order.
    public var occupiedExtents: [(extent: Extent, owner: ExtentOwner)] {
        occupied.map { ($0.extent, $0.owner) }
    }

    /// The quarantined extents in address order.
    public var quarantined: [Extent] {
        occupied.filter { $0.owner == .quarantine }.map(\.extent)
    }

    /// The free gaps in address order.
    public var freeExtents: [Extent] {
        var gaps: [Extent] = []
        var cursor: UInt64 = 0
        for item in occupied {
            if item.extent.start.rawValue > cursor {
                gaps.append(Extent(start: RegionOffset(cursor), length: ByteCount(item.extent.start.rawValue - cursor)))
            }
            cursor = item.extent.end.rawValue
        }
        if size.rawValue > cursor {
            gaps.append(Extent(start: RegionOffset(cursor), length: ByteCount(size.rawValue - cursor)))
        }
        return gaps
    }

    /// The largest free extent usable at `alignment` (start rounded up, length rounded down).
    public func largestFreeExtent(alignment: Alignment = .page4K) -> ByteCount {
        var best = ByteCount.zero
        for gap in freeExtents {
            guard let alignedStart = gap.start.roundedUp(to: alignment), alignedStart < gap.end else { continue }
            let usable = ByteCount(gap.end.rawValue - alignedStart.rawValue).roundedDown(to: alignment)
            best = max(best, usable)
        }
        return best
    }

    /// Who holds `offset`, and where inside the holder: O(log n).
    public func owner(at offset: RegionOffset) -> (owner: ExtentOwner, extent: Extent)? {
        guard let index = lastIndex(startingAtOrBefore: offset) else { return nil }
        let item = occupied[index]
        return item.extent.contains(offset) ? (item.owner, item.extent) : nil
    }

    /// The device holding `offset` and the byte offset inside that device.
    public func deviceOffset(at offset: RegionOffset) -> (device: Int, offset: ByteCount)? {
        guard let (owner, extent) = owner(at: offset), case .device(let device) = owner else { return nil }
        var base: UInt64 = 0
        for range in ranges(of: device) {
            if range == extent { return (device, ByteCount(base + (offset.rawValue - range.start.rawValue))) }
            base += range.length.rawValue
        }
        return nil
    }

    // MARK: - Changes

    /// Grows or shrinks `device` to `newSize`, as a write to sysfs `size` does. A failure changes nothing.
    public mutating func resize(device: Int, to newSize: ByteCount, alignment: Alignment) throws(AllocationError) {
        guard newSize.isAligned(to: alignment) else {
            throw .misaligned(what: "size", value: newSize.rawValue, alignment: alignment)
        }
        let current = size(of: device)
        if newSize == current { return }
        if newSize < current {
            shrink(device: device, by: current.rawValue - newSize.rawValue)
            return
        }
        let wanted = ByteCount(newSize.rawValue - current.rawValue)
        if mode == .baseline {
            guard wanted <= availableSize else {
                throw .insufficientSpace(
                    requested: wanted,
                    available: availableSize,
                    largestFreeExtent: largestFreeExtent(alignment: alignment)
                )
            }
            try grow(device: device, by: wanted, alignment: alignment)
            return
        }
        var usable: UInt64 = 0
        for gap in freeExtents {
            guard let alignedStart = gap.start.roundedUp(to: alignment), alignedStart < gap.end else { continue }
            usable += ByteCount(gap.end.rawValue - alignedStart.rawValue).roundedDown(to: alignment).rawValue
        }
        guard wanted.rawValue <= usable else {
            throw .insufficientSpace(
                requested: newSize,
                available: ByteCount(current.rawValue + usable),
                largestFreeExtent: largestFreeExtent(alignment: alignment)
            )
        }
        var copy = self
        try copy.grow(device: device, by: wanted, alignment: alignment)
        self = copy
    }

    /// Appends an explicit range to `device`, as a write to sysfs `mapping` does.
    public mutating func claim(device: Int, extent: Extent, alignment: Alignment) throws(AllocationError) {
        try checkClaimable(extent, alignment: alignment)
        insert(OccupiedExtent(extent: extent, owner: .device(device)))
        deviceRanges[device, default: []].append(extent)
    }

    /// Marks a free extent as quarantined. Fails if any byte of it is in use.
    public mutating func quarantine(_ extent: Extent) throws(AllocationError) {
        try checkClaimable(extent, alignment: .page4K)
        insert(OccupiedExtent(extent: extent, owner: .quarantine))
    }

    /// Frees every range of `device`.
    public mutating func release(device: Int) {
        guard let ranges = deviceRanges.removeValue(forKey: device) else { return }
        for range in ranges { remove(startingAt: range.start) }
    }

    // MARK: - Internals

    private func checkClaimable(_ extent: Extent, alignment: Alignment) throws(AllocationError) {
        guard extent.length.rawValue > 0 else { throw .zeroSize }
        guard extent.start.isAligned(to: alignment) else {
            throw .misaligned(what: "range start", value: extent.start.rawValue, alignment: alignment)
        }
        guard extent.length.isAligned(to: alignment) else {
            throw .misaligned(what: "range length", value: extent.length.rawValue, alignment: alignment)
        }
        guard extent.start.adding(extent.length).map({ $0.rawValue <= size.rawValue }) == true else {
            throw .outOfRegion(extent, regionSize: size)
        }
        let index = firstIndex(endingAfter: extent.start)
        if index < occupied.count, occupied[index].extent.overlaps(extent) {
            throw .rangeInUse(occupied[index].extent, owner: occupied[index].owner)
        }
    }

    private mutating func grow(device: Int, by wanted: ByteCount, alignment: Alignment) throws(AllocationError) {
        var remaining = wanted.rawValue
        while remaining > 0 {
            guard let step = nextStep(device: device, remaining: remaining, alignment: alignment) else {
                throw .insufficientSpace(
                    requested: wanted,
                    available: availableSize,
                    largestFreeExtent: largestFreeExtent(alignment: alignment)
                )
            }
            if let extendIndex = step.extendIndex {
                occupied[extendIndex].extent.length.rawValue += step.length
                allocatedBytes += step.length
                var ranges = deviceRanges[device, default: []]
                ranges[ranges.count - 1].length.rawValue += step.length
                deviceRanges[device] = ranges
            } else {
                let extent = Extent(start: RegionOffset(step.start), length: ByteCount(step.length))
                insert(OccupiedExtent(extent: extent, owner: .device(device)))
                deviceRanges[device, default: []].append(extent)
            }
            remaining -= step.length
        }
    }

    private struct Step {
        var start: UInt64
        var length: UInt64
        var extendIndex: Int?
    }

    /// The kernel's walk: the gap before the first extent, then the gap after each extent.
    private func nextStep(device: Int, remaining: UInt64, alignment: Alignment) -> Step? {
        let mask = alignment.rawValue - 1
        func usable(from gapStart: UInt64, to gapEnd: UInt64) -> (start: UInt64, length: UInt64)? {
            let alignedStart = (gapStart &+ mask) & ~mask
            guard alignedStart >= gapStart, alignedStart < gapEnd else { return nil }
            let length = (gapEnd - alignedStart) & ~mask
            return length > 0 ? (alignedStart, min(length, remaining)) : nil
        }
        guard let first = occupied.first else {
            return usable(from: 0, to: size.rawValue).map { Step(start: $0.start, length: $0.length) }
        }
        if first.extent.start.rawValue > 0, let gap = usable(from: 0, to: first.extent.start.rawValue) {
            return Step(start: gap.start, length: gap.length)
        }
        let lastRange = deviceRanges[device]?.last
        for index in occupied.indices {
            let gapStart = occupied[index].extent.end.rawValue
            let gapEnd = index + 1 < occupied.count ? occupied[index + 1].extent.start.rawValue : size.rawValue
            guard gapEnd > gapStart, let gap = usable(from: gapStart, to: gapEnd) else { continue }
            let isLastRange = occupied[index].owner == .device(device) && occupied[index].extent == lastRange
            if isLastRange && gap.start == gapStart {
                return Step(start: gap.start, length: gap.length, extendIndex: index)
            }
            return Step(start: gap.start, length: gap.length)
        }
        return nil
    }

    private mutating func shrink(device: Int, by excess: UInt64) {
        var remaining = excess
        var ranges = deviceRanges[device, default: []]
        while remaining > 0, let last = ranges.last {
            if last.length.rawValue <= remaining {
                ranges.removeLast()
                remove(startingAt: last.start)
                remaining -= last.length.rawValue
            } else {
                ranges[ranges.count - 1].length.rawValue -= remaining
                if let index = lastIndex(startingAtOrBefore: last.start) {
                    occupied[index].extent.length.rawValue -= remaining
                }
                allocatedBytes -= remaining
                remaining = 0
            }
        }
        deviceRanges[device] = ranges.isEmpty ? nil : ranges
    }

    private mutating func insert(_ item: OccupiedExtent) {
        let index = firstIndex(endingAfter: item.extent.start)
        occupied.insert(item, at: index)
        allocatedBytes += item.extent.length.rawValue
    }

    private mutating func remove(startingAt start: RegionOffset) {
        guard let index = lastIndex(startingAtOrBefore: start), occupied[index].extent.start == start else { return }
        allocatedBytes -= occupied[index].extent.length.rawValue
        occupied.remove(at: index)
    }

    /// The index of the first extent whose end is after `offset` (binary search).
    private func firstIndex(endingAfter offset: RegionOffset) -> Int {
        var low = 0
        var high = occupied.count
        while low < high {
            let middle = (low + high) / 2
            if occupied[middle].extent.end <= offset { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The index of the last extent starting at or before `offset` (binary search).
    private func lastIndex(startingAtOrBefore offset: RegionOffset) -> Int? {
        var low = 0
        var high = occupied.count
        while low < high {
            let middle = (low + high) / 2
            if occupied[middle].extent.start <= offset { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? low - 1 : nil
    }
}
