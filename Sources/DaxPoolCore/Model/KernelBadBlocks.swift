/// The kernel's list of known-bad ranges of an nd region or namespace (sysfs `badblocks`): one `"<sector> <count>"`
/// line per range, in 512-byte sectors from the start of the region.
public enum KernelBadBlocks {
    /// The sector size the kernel's `badblocks` files count in.
    public static let sectorSize: UInt64 = 512

    /// Why a `badblocks` text could not be read.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The 1-based number of the offending line.
        public var line: Int
        /// The offending line as read.
        public var text: String
        /// What is wrong with it.
        public var reason: String

        /// The line number, the line and the reason, for logs.
        public var description: String { "badblocks line \(line) '\(text)': \(reason)" }
    }

    /// The ranges in `text`, as byte extents from the start of the nd region, sorted and merged.
    /// Blank lines are ignored; anything else that is not two decimal numbers (a count above zero) is an error.
    public static func parse(_ text: String) throws(ParseError) -> [Extent] {
        var extents: [Extent] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            let line = String(rawLine)
            guard fields.count == 2, fields.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                let sector = UInt64(fields[0]), let count = UInt64(fields[1])
            else {
                throw ParseError(line: index + 1, text: line, reason: "expected '<sector> <count>' in decimal")
            }
            guard count > 0 else { throw ParseError(line: index + 1, text: line, reason: "the count is zero") }
            let (start, startOverflow) = sector.multipliedReportingOverflow(by: sectorSize)
            let (length, lengthOverflow) = count.multipliedReportingOverflow(by: sectorSize)
            guard !startOverflow, !lengthOverflow, start.addingReportingOverflow(length).overflow == false else {
                throw ParseError(line: index + 1, text: line, reason: "the range does not fit in 64 bits")
            }
            extents.append(Extent(start: RegionOffset(start), length: ByteCount(length)))
        }
        return extents.reduce(into: []) { merged, extent in merged = PoolModel.merging(extent, into: merged) }
    }

    /// The parts of `ranges` (nd-region byte offsets) that fall inside a daxpool region whose offset 0 lies `base`
    /// bytes into the nd region and which spans `size` bytes, as region offsets.
    public static func regionRanges(_ ranges: [Extent], base: UInt64, size: ByteCount) -> [Extent] {
        let (limit, overflow) = base.addingReportingOverflow(size.rawValue)
        let end = overflow ? UInt64.max : limit
        return ranges.compactMap { range in
            let start = max(range.start.rawValue, base)
            let stop = min(range.end.rawValue, end)
            guard start < stop else { return nil }
            return Extent(start: RegionOffset(start - base), length: ByteCount(stop - start))
        }
    }

    /// The parts of `ranges` (region offsets) that `known` (sorted, merged) does not cover yet.
    public static func uncovered(_ ranges: [Extent], by known: [Extent]) -> [Extent] {
        var result: [Extent] = []
        for range in ranges {
            var cursor = range.start.rawValue
            let end = range.end.rawValue
            for block in known where block.end.rawValue > cursor && block.start.rawValue < end {
                if block.start.rawValue > cursor {
                    result.append(Extent(start: RegionOffset(cursor), length: ByteCount(block.start.rawValue - cursor)))
                }
                cursor = max(cursor, block.end.rawValue)
            }
            if cursor < end { result.append(Extent(start: RegionOffset(cursor), length: ByteCount(end - cursor))) }
        }
        return result
    }
}
