// Linux only.
import DaxPoolCore

/// A physical range of a dax region, `last` inclusive, as the kernel's `mapping` attribute takes it and
/// `mappingN/{start,end}` show it.
public struct DevDaxRange: Hashable, Sendable, CustomStringConvertible {
    /// The physical address of the range's first byte.
    public var start: UInt64
    /// The physical address of the range's last byte (inclusive).
    public var last: UInt64

    /// The range `start...last`.
    public init(start: UInt64, last: UInt64) {
        self.start = start
        self.last = last
    }

    /// The range a kernel mapping covers.
    public init(_ mapping: SysfsDaxMapping) {
        self.init(start: mapping.start, last: mapping.end)
    }

    /// The physical range of the region extent `extent` in a region whose offset 0 is at `base`, or `nil` when it
    /// does not fit in 64 bits.
    public init?(_ extent: Extent, base: UInt64) {
        guard extent.length.rawValue > 0,
            case (let start, false) = base.addingReportingOverflow(extent.start.rawValue),
            case (let last, false) = start.addingReportingOverflow(extent.length.rawValue - 1)
        else { return nil }
        self.init(start: start, last: last)
    }

    /// The range's length in bytes.
    public var size: UInt64 { last &- start &+ 1 }

    /// Whether the two ranges share at least one byte.
    public func overlaps(_ other: DevDaxRange) -> Bool { start <= other.last && other.start <= last }

    /// `0x140000000-0x14fffffff`, the format of the `mapping` attribute without its newline.
    public var description: String { SysfsAttributes.hex(start) + "-" + SysfsAttributes.hex(last) }
}
