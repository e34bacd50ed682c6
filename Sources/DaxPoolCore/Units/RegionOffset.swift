/// A byte offset inside a region's address space. Encodes as a bare JSON integer.
public struct RegionOffset: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(_ value: UInt64) { self.rawValue = value }

    public static let zero = RegionOffset(0)

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

    public func isAligned(to alignment: Alignment) -> Bool { rawValue & (alignment.rawValue - 1) == 0 }

    /// The smallest multiple of `alignment` at or above this offset, or `nil` on overflow.
    public func roundedUp(to alignment: Alignment) -> RegionOffset? {
        let mask = alignment.rawValue - 1
        let (sum, overflow) = rawValue.addingReportingOverflow(mask)
        return overflow ? nil : RegionOffset(sum & ~mask)
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
