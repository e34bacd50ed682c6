/// A byte offset inside a region's address space. Encodes as a bare JSON integer.
public struct RegionOffset: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The offset in bytes from the region's start.
    public var rawValue: UInt64

    /// The offset `rawValue` bytes into the region.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The offset `value` bytes into the region.
    public init(_ value: UInt64) { self.rawValue = value }

    /// The region's start.
    public static let zero = RegionOffset(0)

    /// Orders by position in the region.
    public static func < (lhs: RegionOffset, rhs: RegionOffset) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `self + count`, or `nil` on overflow.
    public func adding(_ count: ByteCount) -> RegionOffset? {
        let (sum, overflow) = rawValue.addingReportingOverflow(count.rawValue)
        return overflow ? nil : RegionOffset(sum)
    }

    /// The distance from `earlier` to `self`; `nil` if `earlier` is later.
    public func distance(from earlier: RegionOffset) -> ByteCount? {
        earlier.rawValue <= rawValue ? ByteCount(rawValue - earlier.rawValue) : nil
    }

    /// Whether the offset is a whole multiple of `alignment`.
    public func isAligned(to alignment: Alignment) -> Bool { rawValue & (alignment.rawValue - 1) == 0 }

    /// The smallest multiple of `alignment` at or above this offset, or `nil` on overflow.
    public func roundedUp(to alignment: Alignment) -> RegionOffset? {
        let mask = alignment.rawValue - 1
        let (sum, overflow) = rawValue.addingReportingOverflow(mask)
        return overflow ? nil : RegionOffset(sum & ~mask)
    }

    /// The offset in lowercase hex with a `0x` prefix.
    public var description: String { "0x" + String(rawValue, radix: 16) }

    /// Decodes a bare JSON integer of bytes.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }

    /// Encodes the offset as a bare JSON integer of bytes.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
