/// A backend whose memory survives a kexec and can carry a copy of its regions' layouts (`LiveUpdateArea`) in the
/// memory itself: devdax, whose dynamic regions hold soft-reserved or pmem ranges the next kernel does not touch.
public protocol LiveUpdateMemory: Sendable {
    /// The kernel regions that can hold an area (dynamic dax regions), by id: where a start with no state looks
    /// for layouts.
    func liveUpdateRegionIDs() throws -> [Int]

    /// The region offset of region `region`'s area (its last `LiveUpdateArea.size` bytes), `nil` when the region
    /// cannot hold one (a static region, or one smaller than an area).
    func liveUpdateAreaOffset(region: Int) throws -> RegionOffset?

    /// Writes `bytes` (`LiveUpdateArea.size` of them) to the region's area and keeps a kernel device holding exactly
    /// the area's range until the next start reads it, so that the kernel gives the range to no other device.
    /// - Returns: the holding kernel device (`daxR.N`).
    func writeLiveUpdateArea(_ bytes: [UInt8], region: Int) throws -> String

    /// Reads the region's area through a device that maps it, without writing a byte of the region's memory, and
    /// gives back the range to the region when a holder (or a device made only to read it) held it. `nil` when the
    /// area cannot be read (a static region, or a device that is not a holder holds the range).
    func readLiveUpdateArea(region: Int) throws -> [UInt8]?
}
