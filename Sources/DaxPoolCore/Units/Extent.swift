/// A half-open span `[start, start + length)` of a region's offset space.
public struct Extent: Hashable, Sendable, Codable, CustomStringConvertible {
    public var start: RegionOffset
    public var length: ByteCount

    public init(start: RegionOffset, length: ByteCount) {
        self.start = start
        self.length = length
    }

    /// The first offset past the extent. Extents are built only where this cannot overflow.
    public var end: RegionOffset { RegionOffset(start.rawValue &+ length.rawValue) }

    /// The last byte of the extent, as sysfs `mappingN/end` prints it (inclusive).
    public var lastByte: RegionOffset { RegionOffset(start.rawValue &+ length.rawValue &- 1) }

    public func contains(_ offset: RegionOffset) -> Bool { offset >= start && offset < end }

    public func overlaps(_ other: Extent) -> Bool { start < other.end && other.start < end }

    public var description: String { "\(start)-\(lastByte)" }
}
