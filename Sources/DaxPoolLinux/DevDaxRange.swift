// Linux only.
import DaxPoolCore

/// A physical range of a dax region, `last` inclusive, as the kernel's `mapping` attribute takes it and
/// `mappingN/{start,end}` show it.
public struct DevDaxRange: Hashable, Sendable, CustomStringConvertible {
    public var start: UInt64
    public var last: UInt64

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

    public var size: UInt64 { last &- start &+ 1 }

    public func overlaps(_ other: DevDaxRange) -> Bool { start <= other.last && other.start <= last }

    /// `0x140000000-0x14fffffff`, the format of the `mapping` attribute without its newline.
    public var description: String { SysfsAttributes.hex(start) + "-" + SysfsAttributes.hex(last) }
}
