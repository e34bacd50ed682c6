/// A number of bytes. Encodes as a bare JSON integer.
public struct ByteCount: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The number of bytes.
    public var rawValue: UInt64

    /// `rawValue` bytes.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `value` bytes.
    public init(_ value: UInt64) { self.rawValue = value }

    /// No bytes.
    public static let zero = ByteCount(0)

    /// `count` KiB (`count` × 1024 bytes); the caller keeps `count` small enough not to overflow.
    public static func kibibytes(_ count: UInt64) -> ByteCount { ByteCount(count << 10) }
    /// `count` MiB (`count` × 2^20 bytes); the caller keeps `count` small enough not to overflow.
    public static func mebibytes(_ count: UInt64) -> ByteCount { ByteCount(count << 20) }
    /// `count` GiB (`count` × 2^30 bytes); the caller keeps `count` small enough not to overflow.
    public static func gibibytes(_ count: UInt64) -> ByteCount { ByteCount(count << 30) }

    /// Orders by number of bytes.
    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `self + other`, or `nil` on overflow.
    public func adding(_ other: ByteCount) -> ByteCount? {
        let (sum, overflow) = rawValue.addingReportingOverflow(other.rawValue)
        return overflow ? nil : ByteCount(sum)
    }

    /// `self - other`, or `nil` if `other` is larger.
    public func subtracting(_ other: ByteCount) -> ByteCount? {
        other.rawValue <= rawValue ? ByteCount(rawValue - other.rawValue) : nil
    }

    /// Whether this count is a whole multiple of `alignment`.
    public func isAligned(to alignment: Alignment) -> Bool {
        rawValue & (alignment.rawValue - 1) == 0
    }

    /// The largest multiple of `alignment` not above this count.
    public func roundedDown(to alignment: Alignment) -> ByteCount {
        ByteCount(rawValue & ~(alignment.rawValue - 1))
    }

    /// Human form as daxctl's `-u` prints it, e.g. `"1024.00 MiB (1073.74 MB)"`.
    public var humanDescription: String {
        let units: [(String, String, UInt64, UInt64)] = [
            ("TiB", "TB", 1 << 40, 1_000_000_000_000),
            ("GiB", "GB", 1 << 30, 1_000_000_000),
            ("MiB", "MB", 1 << 20, 1_000_000),
            ("KiB", "KB", 1 << 10, 1_000),
        ]
        for (binary, decimal, binaryScale, decimalScale) in units where rawValue >= binaryScale {
            return "\(Self.fixed2(rawValue, binaryScale)) \(binary) (\(Self.fixed2(rawValue, decimalScale)) \(decimal))"
        }
        return "\(rawValue)"
    }

    /// The number of bytes in decimal, without a unit.
    public var description: String { "\(rawValue)" }

    private static func fixed2(_ value: UInt64, _ scale: UInt64) -> String {
        let hundredths = (value.multipliedFullWidth(by: 100).low + scale / 2) / scale
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// Decodes a bare JSON integer of bytes.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }

    /// Encodes the count as a bare JSON integer of bytes.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
