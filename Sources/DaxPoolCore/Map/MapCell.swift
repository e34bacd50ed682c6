/// What one column of a terminal bar shows.
public enum MapCell: Hashable, Sendable {
    /// The device at this index of `RegionMap.devices`.
    case device(Int)
    /// Free memory holds most of the cell.
    case free
    /// Memory the caller cannot see holds most of the cell.
    case held
    /// A bad block lies in the cell.
    case badBlock
}

extension RegionMap {
    /// The region drawn `width` cells wide, cell `i` standing for offsets `ceil(i × size / width)` up to the next
    /// cell's: each cell shows who holds most of its bytes, except that every bad block takes the cells it touches,
    /// and every device too small to win a cell takes the cell nearest its start that no bad block or other small
    /// device took, so that nothing vanishes while there are cells enough. Empty for an empty region or a width
    /// below 1.
    public func cells(width: Int) -> [MapCell] {
        let total = size.rawValue
        guard width > 0, total > 0 else { return [] }
        let segments = self.segments
        guard !segments.isEmpty else { return [] }
        var cells = [MapCell](repeating: .free, count: width)
        var segmentIndex = 0
        for cell in 0..<width {
            let low = bound(cell, width: width)
            let high = bound(cell + 1, width: width)
            while segmentIndex < segments.count - 1, segments[segmentIndex].extent.end.rawValue <= low {
                segmentIndex += 1
            }
            guard high > low else {
                cells[cell] = Self.cell(for: segments[segmentIndex].owner)
                continue
            }
            var tally: [(owner: MapOwner, bytes: UInt64)] = []
            var index = segmentIndex
            while index < segments.count, segments[index].extent.start.rawValue < high {
                let extent = segments[index].extent
                let overlap = min(extent.end.rawValue, high) - max(extent.start.rawValue, low)
                if let known = tally.firstIndex(where: { $0.owner == segments[index].owner }) {
                    tally[known].bytes += overlap
                } else {
                    tally.append((segments[index].owner, overlap))
                }
                index += 1
            }
            if let best = tally.max(by: { $0.bytes < $1.bytes }) { cells[cell] = Self.cell(for: best.owner) }
        }
        var forced = Set<Int>()
        for bad in visibleBadBlocks {
            let first = cellIndex(of: bad.start.rawValue, width: width)
            let last = cellIndex(of: bad.lastByte.rawValue, width: width)
            for cell in first...last {
                cells[cell] = .badBlock
                forced.insert(cell)
            }
        }
        let shown = Set(
            cells.compactMap { cell -> Int? in
                if case .device(let index) = cell { return index }
                return nil
            })
        for (index, device) in devices.enumerated() where !shown.contains(index) {
            guard let start = device.ranges.first(where: { $0.length.rawValue > 0 && $0.start.rawValue < total })
            else { continue }
            let target = cellIndex(of: start.start.rawValue, width: width)
            guard let cell = Self.nearest(to: target, in: width, avoiding: forced) else { continue }
            cells[cell] = .device(index)
            forced.insert(cell)
        }
        return cells
    }

    /// The first offset of cell `index`: `ceil(index × size / width)`.
    func bound(_ index: Int, width: Int) -> UInt64 {
        let product = size.rawValue.multipliedFullWidth(by: UInt64(index))
        let (quotient, remainder) = UInt64(width).dividingFullWidth(product)
        return remainder == 0 ? quotient : quotient + 1
    }

    /// The cell holding `offset` (below `size`): `floor(offset × width / size)`.
    func cellIndex(of offset: UInt64, width: Int) -> Int {
        let clamped = min(offset, size.rawValue - 1)
        let product = clamped.multipliedFullWidth(by: UInt64(width))
        return min(Int(size.rawValue.dividingFullWidth(product).quotient), width - 1)
    }

    private static func nearest(to target: Int, in width: Int, avoiding taken: Set<Int>) -> Int? {
        for distance in 0..<width {
            if target + distance < width, !taken.contains(target + distance) { return target + distance }
            if target - distance >= 0, !taken.contains(target - distance) { return target - distance }
        }
        return nil
    }

    private static func cell(for owner: MapOwner) -> MapCell {
        switch owner {
        case .device(let index): .device(index)
        case .free: .free
        case .held: .held
        case .badBlock: .badBlock
        }
    }
}
