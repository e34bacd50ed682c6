/// A free gap of a region's offset space (`offset` and `length` in bytes, region offsets), as `list -R` prints
/// each entry of `free_extents`: memory no device, quarantined bad block or pending scrub holds (a pool's ready
/// files count as free, as in `available_size`).
public struct FreeExtent: Hashable, Sendable, Codable {
    /// The region offset of the gap's first byte.
    public var offset: UInt64
    /// The gap's length.
    public var length: UInt64

    /// The gap of `length` bytes at region offset `offset`.
    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }
}
