/// Allocates aligned, possibly discontiguous ranges of one region's offset space, with the same
/// answers as the Linux dax bus (`drivers/dax/bus.c` `dev_dax_resize`):
///
/// - growing walks the region's free space first-fit: a gap at the region start, then the gaps
///   between allocations in address order, then the tail;
/// - a gap right after the device's *last* range extends that range in place (page offsets of the
///   existing ranges are preserved), any other gap becomes a new range appended to the device;
/// - shrinking trims from the last range backwards, dropping whole ranges.
///
/// Unlike the kernel, every range start is aligned to the device alignment too, so 1 GiB devices
/// are always backed by 1 GiB-aligned memory.
///
/// A region whose memory is held in more than one part (`RegionConfig.segments`: a hugetlb region that grew while
/// devices held its memory is one hugetlbfs mount per part) has `barriers` where one part ends: every range a grow
/// takes for a device lies in the part its other ranges lie in (a new device: the first part with room for all of
/// it), so no device lies across a barrier, and the sizes a refusal suggests are ones that fit in one part.
///
/// The kernel walks its resource list linearly; here the occupied extents live in a B+tree keyed by
/// start, in which every extent also carries the free gap after it and every subtree knows the largest
/// gap usable at each alignment. So the first-fit walk, inserts, removals and lookups are O(log n), and
/// the result is the same as the linear walk's (see `ExtentTree`).
public struct RegionAllocator: Sendable, Equatable {
    /// The region's size; offsets run from 0 to `size`.
    public let size: ByteCount

    /// Occupied extents (device ranges and quarantined blocks) with the gap after each.
    private(set) var tree: ExtentTree

    /// The offsets where one part of the region's memory ends and the next begins, ascending, each inside the region
    /// (`RegionConfig.segmentBoundaries`): no device lies across one. Empty for a region of one part.
    public private(set) var barriers: [UInt64] = []

    /// Each device's ranges in page-offset order.
    private var deviceRanges = DeviceTable()

    /// Quarantined extents sorted by start. Quarantine is never lifted, so this only grows.
    private var quarantineList: [Extent] = []

    private var allocatedBytes: UInt64 = 0

    /// An allocator for an empty region of `size` bytes: no device ranges, nothing quarantined; `barriers` are the
    /// offsets where a part of its memory begins (those outside the region are ignored).
    public init(size: ByteCount, barriers: [UInt64] = []) {
        self.size = size
        self.tree = ExtentTree(regionEnd: size.rawValue)
        self.barriers = Array(Set(barriers.filter { $0 > 0 && $0 < size.rawValue })).sorted()
    }

    /// Equal allocators hold the same device ranges and quarantined extents, and their trees the same extents with
    /// the same owners and gaps; how the tree's nodes are split does not matter.
    public static func == (lhs: RegionAllocator, rhs: RegionAllocator) -> Bool {
        lhs.size == rhs.size && lhs.barriers == rhs.barriers && lhs.allocatedBytes == rhs.allocatedBytes
            && lhs.quarantineList == rhs.quarantineList
            && lhs.deviceRanges == rhs.deviceRanges && lhs.tree.elements == rhs.tree.elements
    }

    /// Bytes not held by any device or quarantine.
    public var availableSize: ByteCount { ByteCount(size.rawValue - allocatedBytes) }

    /// The device instances that hold memory, in ascending order.
    public var devices: [Int] { deviceRanges.sortedDevices }

    /// The number of occupied extents (device ranges and quarantined blocks).
    public var extentCount: Int { tree.count }

    /// A device's ranges in page-offset order (empty for an unknown or zero-sized device).
    public func ranges(of device: Int) -> [Extent] { deviceRanges[device]?.extents ?? [] }

    /// The sum of a device's ranges.
    public func size(of device: Int) -> ByteCount { ByteCount(deviceRanges[device]?.total ?? 0) }

    /// Every occupied extent with its owner, in address order.
    public var occupiedExtents: [(extent: Extent, owner: ExtentOwner)] {
        var result: [(extent: Extent, owner: ExtentOwner)] = []
        result.reserveCapacity(tree.count)
        tree.forEach { result.append((Self.extent(of: $0), Self.owner(of: $0))) }
        return result
    }

    /// The quarantined extents in address order.
    public var quarantined: [Extent] { quarantineList }

    /// The free gaps in address order, cut at `barriers`.
    public var freeExtents: [Extent] {
        guard barriers.isEmpty else { return segmentedFreeExtents }
        var gaps: [Extent] = []
        let head = headGapEnd
        if head > 0 { gaps.append(Extent(start: .zero, length: ByteCount(head))) }
        tree.forEach { element in
            if element.gap > 0 { gaps.append(Extent(start: RegionOffset(element.end), length: ByteCount(element.gap))) }
        }
        return gaps
    }

    /// The free bytes devices aligned to `alignment` can take: each gap (cut at `barriers`) with its start rounded
    /// up and its length rounded down, added up. Always a multiple of `alignment`; at most `availableSize`. In a region
    /// of more than one part, the largest one device can have is `largestDevice(alignment:)`.
    public func availableSize(alignment: Alignment) -> ByteCount {
        guard barriers.isEmpty else {
            return ByteCount(parts.indices.reduce(0) { $0 + usable(inPart: $1, alignment: alignment).total })
        }
        let kind = AlignmentClass(alignment)
        let head = ExtentTree.usable(from: 0, to: headGapEnd, mask: kind.mask)?.length ?? 0
        return ByteCount(head + tree.usableTotal(kind))
    }

    /// The largest free extent usable at `alignment` (start rounded up, length rounded down), inside one part.
    public func largestFreeExtent(alignment: Alignment = .page4K) -> ByteCount {
        guard barriers.isEmpty else {
            return ByteCount(parts.indices.map { usable(inPart: $0, alignment: alignment).largest }.max() ?? 0)
        }
        let kind = AlignmentClass(alignment)
        let head = ExtentTree.usable(from: 0, to: headGapEnd, mask: kind.mask)?.length ?? 0
        return ByteCount(max(head, tree.largestUsable(kind)))
    }

    /// Who holds `offset`, and where inside the holder: O(log n).
    public func owner(at offset: RegionOffset) -> (owner: ExtentOwner, extent: Extent)? {
        guard let element = tree.last(atOrBefore: offset.rawValue), offset.rawValue < element.end else { return nil }
        return (Self.owner(of: element), Self.extent(of: element))
    }

    /// The device holding `offset` and the byte offset inside that device: O(log n).
    public func deviceOffset(at offset: RegionOffset) -> (device: Int, offset: ByteCount)? {
        guard let element = tree.last(atOrBefore: offset.rawValue), offset.rawValue < element.end,
            element.rangeIndex >= 0, let ranges = deviceRanges[element.owner], element.rangeIndex < ranges.count
        else { return nil }
        return (
            element.owner, ByteCount(ranges.offset(ofRange: element.rangeIndex) + (offset.rawValue - element.start))
        )
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
        guard barriers.isEmpty else {
            let part = try partToGrow(device: device, current: current, by: wanted, alignment: alignment)
            grow(device: device, by: wanted.rawValue, alignment: alignment, within: parts[part])
            return
        }
        // Each step of the walk takes all it can of the first usable gap, and taking from one gap never
        // changes what the others offer, so the walk succeeds exactly when the usable space at this
        // alignment adds up to `wanted`. The error reports the device sizes: the one asked for, and the
        // largest this alignment allows now (a multiple of it, so the suggestion in the message works).
        let usable = availableSize(alignment: alignment)
        guard usable >= wanted else {
            throw .insufficientSpace(
                requested: newSize,
                available: ByteCount(current.rawValue + usable.rawValue),
                largestFreeExtent: largestFreeExtent(alignment: alignment)
            )
        }
        grow(device: device, by: wanted.rawValue, alignment: alignment, within: nil)
    }

    /// Appends an explicit range to `device`, as a write to sysfs `mapping` does.
    public mutating func claim(device: Int, extent: Extent, alignment: Alignment) throws(AllocationError) {
        try checkClaimable(extent, alignment: alignment)
        var ranges = deviceRanges.remove(device)
        Self.append(extent, to: &ranges)
        let rangeIndex = (ranges?.count ?? 1) - 1
        tree.insert(start: extent.start.rawValue, length: extent.length.rawValue, owner: device, rangeIndex: rangeIndex)
        if let ranges { deviceRanges.set(device, ranges) }
        allocatedBytes += extent.length.rawValue
    }

    /// Marks a free extent as quarantined. Fails if any byte of it is in use.
    public mutating func quarantine(_ extent: Extent) throws(AllocationError) {
        try checkClaimable(extent, alignment: .page4K)
        tree.insert(start: extent.start.rawValue, length: extent.length.rawValue, owner: 0, rangeIndex: -1)
        var low = 0
        var high = quarantineList.count
        while low < high {
            let middle = (low + high) / 2
            if quarantineList[middle].start < extent.start { low = middle + 1 } else { high = middle }
        }
        quarantineList.insert(extent, at: low)
        allocatedBytes += extent.length.rawValue
    }

    /// Frees every range of `device`.
    public mutating func release(device: Int) {
        guard let ranges = deviceRanges.remove(device) else { return }
        ranges.forEach { range in
            tree.remove(start: range.start.rawValue)
            allocatedBytes -= range.length.rawValue
        }
    }

    // MARK: - Internals

    private static func extent(of element: ExtentTree.Element) -> Extent {
        Extent(start: RegionOffset(element.start), length: ByteCount(element.length))
    }

    private static func owner(of element: ExtentTree.Element) -> ExtentOwner {
        element.rangeIndex < 0 ? .quarantine : .device(element.owner)
    }

    /// The end of the gap at the region start: the first extent's start, or the region end.
    var headGapEnd: UInt64 { tree.first?.start ?? size.rawValue }

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
        // The first extent that ends after `extent.start` is the one to report: the extent starting at
        // or before it if that reaches past it, else the one after the gap that holds the start.
        let gapEnd: UInt64
        if let before = tree.last(atOrBefore: extent.start.rawValue) {
            if before.end > extent.start.rawValue {
                throw .rangeInUse(Self.extent(of: before), owner: Self.owner(of: before))
            }
            gapEnd = before.gapEnd
        } else {
            gapEnd = headGapEnd
        }
        if extent.end.rawValue > gapEnd, let after = tree.last(atOrBefore: gapEnd) {
            throw .rangeInUse(Self.extent(of: after), owner: Self.owner(of: after))
        }
    }

    /// Takes `wanted` bytes for `device` step by step, only from `[within.start, within.end)` when given; the caller
    /// has checked that they are there.
    private mutating func grow(
        device: Int, by wanted: UInt64, alignment: Alignment, within bounds: (start: UInt64, end: UInt64)?
    ) {
        var ranges = deviceRanges.remove(device)
        defer { if let ranges { deviceRanges.set(device, ranges) } }
        var remaining = wanted
        while remaining > 0 {
            let lastRange = (ranges?.count ?? 0) - 1
            guard
                let step = nextStep(
                    device: device, lastRange: lastRange, remaining: remaining, alignment: alignment, within: bounds)
            else { return }
            if let extendStart = step.extendStart {
                tree.changeLength(start: extendStart, by: step.length, growing: true)
                ranges?.changeLastLength(by: step.length, growing: true)
            } else {
                tree.insert(start: step.start, length: step.length, owner: device, rangeIndex: lastRange + 1)
                Self.append(Extent(start: RegionOffset(step.start), length: ByteCount(step.length)), to: &ranges)
            }
            allocatedBytes += step.length
            remaining -= step.length
        }
    }

    /// Appends `extent` to `ranges` in place, or makes them a device of that one range.
    private static func append(_ extent: Extent, to ranges: inout DeviceRanges?) {
        if ranges == nil { ranges = DeviceRanges(first: extent) } else { ranges?.append(extent) }
    }

    private struct Step {
        var start: UInt64
        var length: UInt64
        /// The start of the device's last range when the step extends it in place.
        var extendStart: UInt64?
    }

    /// The kernel's walk: the gap before the first extent, then the gap after each extent, taking the
    /// first gap that holds at least one aligned unit. The tree finds that gap without walking; inside a part of the
    /// region (`bounds`) the walk goes over that part's gaps.
    private func nextStep(
        device: Int, lastRange: Int, remaining: UInt64, alignment: Alignment,
        within bounds: (start: UInt64, end: UInt64)?
    ) -> Step? {
        let kind = AlignmentClass(alignment)
        if let bounds {
            guard
                let gap = freeGaps(from: bounds.start, to: bounds.end).lazy.compactMap({
                    ExtentTree.usable(from: $0.start, to: $0.end, mask: kind.mask)
                }).first
            else { return nil }
            let before = tree.last(atOrBefore: gap.start)
            let extends =
                before.map {
                    $0.rangeIndex >= 0 && $0.owner == device && $0.rangeIndex == lastRange && $0.end == gap.start
                } ?? false
            return Step(
                start: gap.start, length: min(gap.length, remaining), extendStart: extends ? before?.start : nil)
        }
        if let gap = ExtentTree.usable(from: 0, to: headGapEnd, mask: kind.mask) {
            return Step(start: gap.start, length: min(gap.length, remaining))
        }
        guard let element = tree.firstUsable(kind),
            let gap = ExtentTree.usable(from: element.end, to: element.gapEnd, mask: kind.mask)
        else { return nil }
        let isLastRange = element.rangeIndex >= 0 && element.owner == device && element.rangeIndex == lastRange
        return Step(
            start: gap.start,
            length: min(gap.length, remaining),
            extendStart: isLastRange && gap.start == element.end ? element.start : nil
        )
    }

    private mutating func shrink(device: Int, by excess: UInt64) {
        guard var ranges = deviceRanges.remove(device) else { return }
        var remaining = excess
        while remaining > 0 {
            let last = ranges.last
            if last.length.rawValue <= remaining {
                tree.remove(start: last.start.rawValue)
                allocatedBytes -= last.length.rawValue
                remaining -= last.length.rawValue
                // Dropping the only range drops the device.
                guard ranges.removeLast() else { return }
            } else {
                ranges.changeLastLength(by: remaining, growing: false)
                tree.changeLength(start: last.start.rawValue, by: remaining, growing: false)
                allocatedBytes -= remaining
                remaining = 0
            }
        }
        deviceRanges.set(device, ranges)
    }
}
