// Linux only.

/// One constituent range of a dax device, as `/sys/bus/dax/devices/daxR.N/mappingK/{start,end,page_offset}`
/// show it (all three are root-only, mode 0400): physical addresses, `end` inclusive, `pageOffset` in 4 KiB pages
/// from the device start. `index` is the K of `mappingK`, which comes from a per-device IDA and may have holes.
public struct SysfsDaxMapping: Hashable, Sendable, CustomStringConvertible {
    /// The K of `mappingK`.
    public var index: Int
    /// `mappingK/start` (`%#llx`).
    public var start: UInt64
    /// `mappingK/end` (`%#llx`), the last byte.
    public var end: UInt64
    /// `mappingK/page_offset` (`%#lx`), in pages.
    public var pageOffset: UInt64

    /// The mapping `mappingK` with every attribute given.
    public init(index: Int, start: UInt64, end: UInt64, pageOffset: UInt64) {
        self.index = index
        self.start = start
        self.end = end
        self.pageOffset = pageOffset
    }

    /// `end - start + 1`.
    public var size: UInt64 { end &- start &+ 1 }

    /// `START-END@PAGE_OFFSET`, all in hex, for logs and errors.
    public var description: String {
        "\(SysfsAttributes.hex(start))-\(SysfsAttributes.hex(end))@\(SysfsAttributes.hex(pageOffset))"
    }
}
