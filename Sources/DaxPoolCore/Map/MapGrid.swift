/// The grid marks of a map: a mark at every multiple of `step` inside the region, where `step` is the region's
/// page size or the smallest power-of-two multiple of it whose marks are far enough apart to see.
public struct MapGrid: Hashable, Sendable {
    /// The distance between two marks.
    public var step: ByteCount
    /// The region's page size.
    public var pageSize: ByteCount

    /// How many pages lie between two marks.
    public var pagesPerStep: UInt64 { step.rawValue / max(pageSize.rawValue, 1) }

    /// The grid for a region of `size` drawn `length` units long (pixels or columns), with marks at least
    /// `minimumSpacing` units apart; `nil` when the region or its page size is empty or no mark would fall inside.
    public static func choose(size: ByteCount, pageSize: ByteCount, length: Double, minimumSpacing: Double)
        -> MapGrid?
    {
        guard size.rawValue > 0, pageSize.rawValue > 0, length > 0 else { return nil }
        var step = pageSize.rawValue
        while Double(step) / Double(size.rawValue) * length < minimumSpacing {
            let (doubled, overflow) = step.multipliedReportingOverflow(by: 2)
            guard !overflow else { return nil }
            step = doubled
        }
        guard step < size.rawValue else { return nil }
        return MapGrid(step: ByteCount(step), pageSize: pageSize)
    }

    /// The region offsets of the marks: every multiple of `step` strictly inside a region of `size`.
    public func marks(in size: ByteCount) -> [UInt64] {
        guard step.rawValue > 0 else { return [] }
        return Array(stride(from: step.rawValue, to: size.rawValue, by: Int(clamping: step.rawValue)))
    }

    /// `a mark every 2 MiB page`, or `a mark every 64 MiB (32 pages of 2 MiB)`.
    public var description: String {
        pagesPerStep <= 1
            ? "a mark every \(MapText.size(pageSize)) page"
            : "a mark every \(MapText.size(step)) (\(pagesPerStep) pages of \(MapText.size(pageSize)))"
    }
}
