/// Who holds a stretch of a region in the map.
public enum MapOwner: Hashable, Sendable {
    /// The device at this index of `RegionMap.devices`.
    case device(Int)
    /// Free memory.
    case free
    /// Memory neither free nor in a listed device: other owners' devices, memory being scrubbed or created.
    case held
    /// A bad block outside every listed device (quarantined: never handed out). A bad block inside a device
    /// stays the device's here; the renderers mark every bad block on top.
    case badBlock
}

/// A stretch of a region's offset space and who holds it.
public struct MapSegment: Hashable, Sendable {
    /// The stretch, as region offsets.
    public var extent: Extent
    /// Who holds it: a listed device, nobody (free), someone unlisted (held), or a bad block.
    public var owner: MapOwner

    /// The stretch `extent`, held by `owner`.
    public init(extent: Extent, owner: MapOwner) {
        self.extent = extent
        self.owner = owner
    }
}

extension RegionMap {
    /// The region's offset space from 0 to `size` in address order, every byte in exactly one segment: the device
    /// ranges, the free extents, the bad blocks outside both, and what none of them holds (`held`; `free` when the
    /// daemon does not report free extents). Ranges past the region's end are cut at it; where two overlap, the one
    /// that starts first wins.
    public var segments: [MapSegment] {
        let end = size.rawValue
        var pieces: [(start: UInt64, end: UInt64, owner: MapOwner)] = []
        for (index, device) in devices.enumerated() {
            for range in device.ranges {
                pieces.append((range.start.rawValue, Self.end(of: range, limit: end), .device(index)))
            }
        }
        for extent in freeExtents ?? [] {
            pieces.append((extent.start.rawValue, Self.end(of: extent, limit: end), .free))
        }
        pieces.sort { $0.start < $1.start }
        let gapOwner: MapOwner = freeExtents == nil ? .free : .held
        let bad = visibleBadBlocks
        var result: [MapSegment] = []
        var cursor: UInt64 = 0
        func append(_ start: UInt64, _ stop: UInt64, _ owner: MapOwner) {
            guard stop > start else { return }
            if let last = result.last, last.owner == owner, last.extent.end.rawValue == start {
                result[result.count - 1].extent.length = ByteCount(stop - last.extent.start.rawValue)
            } else {
                let extent = Extent(start: RegionOffset(start), length: ByteCount(stop - start))
                result.append(MapSegment(extent: extent, owner: owner))
            }
        }
        // What no device and no free extent holds: the bad blocks in it, and the rest.
        func appendGap(_ start: UInt64, _ stop: UInt64) {
            var position = start
            for block in bad where block.end.rawValue > position && block.start.rawValue < stop {
                let badStart = max(block.start.rawValue, position)
                let badEnd = min(block.end.rawValue, stop)
                append(position, badStart, gapOwner)
                append(badStart, badEnd, .badBlock)
                position = badEnd
            }
            append(position, stop, gapOwner)
        }
        for piece in pieces where piece.end > cursor && piece.start < end {
            if piece.start > cursor { appendGap(cursor, piece.start) }
            append(max(piece.start, cursor), piece.end, piece.owner)
            cursor = piece.end
        }
        appendGap(cursor, end)
        return result
    }

    /// The bad blocks inside the region, cut at its end, in address order.
    public var visibleBadBlocks: [Extent] {
        badBlocks.filter { $0.start.rawValue < size.rawValue && $0.length.rawValue > 0 }
            .map {
                Extent(start: $0.start, length: ByteCount(Self.end(of: $0, limit: size.rawValue) - $0.start.rawValue))
            }
            .sorted { $0.start < $1.start }
    }

    /// The bytes each kind of owner holds.
    public func bytes(of owner: MapOwner) -> ByteCount {
        ByteCount(segments.filter { $0.owner == owner }.reduce(0) { $0 + $1.extent.length.rawValue })
    }

    private static func end(of extent: Extent, limit: UInt64) -> UInt64 {
        let (sum, overflow) = extent.start.rawValue.addingReportingOverflow(extent.length.rawValue)
        return overflow ? limit : min(sum, limit)
    }
}
