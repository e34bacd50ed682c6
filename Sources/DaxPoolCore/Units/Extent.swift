/// A half-open span `[start, start + length)` of a region's offset space.
public struct Extent: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The first byte of the span, as a region offset.
    public var start: RegionOffset
    /// The span's length in bytes.
    public var length: ByteCount

    /// The span of `length` bytes from `start`.
    public init(start: RegionOffset, length: ByteCount) {
        self.start = start
        self.length = length
    }

    /// The first offset past the extent. Extents are built only where this cannot overflow.
    public var end: RegionOffset { RegionOffset(start.rawValue &+ length.rawValue) }

    /// The last byte of the extent, as sysfs `mappingN/end` prints it (inclusive).
    public var lastByte: RegionOffset { RegionOffset(start.rawValue &+ length.rawValue &- 1) }

    /// Whether `offset` lies in `[start, end)`.
    public func contains(_ offset: RegionOffset) -> Bool { offset >= start && offset < end }

    /// Whether the two spans share at least one byte.
    public func overlaps(_ other: Extent) -> Bool { start < other.end && other.start < end }

    /// `0xSTART-0xLAST`, both ends inclusive in hex, as sysfs mappings print ranges.
    public var description: String { "\(start)-\(lastByte)" }
}
