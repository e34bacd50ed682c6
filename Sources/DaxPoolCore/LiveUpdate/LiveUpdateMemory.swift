/// A backend whose memory survives a kexec and can carry a copy of its regions' layouts (`LiveUpdateArea`) in the
/// memory itself: devdax, whose regions hold soft-reserved or pmem ranges the next kernel does not touch.
///
/// A dynamic region's copy is its last 2 MiB subsection, held by a kernel device of its own; a static region's (a
/// pmem namespace, one device over the whole region) is the last 2 MiB of that device, which daxpool keeps from
/// VMMs (`StaticDaxDevice`).
public protocol LiveUpdateMemory: Sendable {
    /// The kernel's dax regions (dynamic and static), by id: where a start with no state looks for layouts.
    func liveUpdateRegionIDs() throws -> [Int]

    /// The region offset of a dynamic region's area (its last `LiveUpdateArea.size` bytes), `nil` when the region
    /// cannot hold one of its own (a static region, whose area is inside its device, or one smaller than two areas).
    func liveUpdateAreaOffset(region: Int) throws -> RegionOffset?

    /// The kernel's device of a static region (where its area is, and what a copy may claim), `nil` for a dynamic
    /// region.
    func staticLiveUpdateDevice(region: Int) throws -> StaticDaxDevice?

    /// The bytes at the end of `device` that daxpool keeps for the layout's copy and no VMM may use: a static
    /// region's device (`StaticDaxDevice.reservedTail`). `nil` when all of it is the VMM's, or the kernel cannot
    /// tell. Cheap: `list` asks it for such devices.
    func liveUpdateReservedTail(of device: DeviceID) -> UInt64?

    /// Writes `bytes` (`LiveUpdateArea.size` of them) to the region's area. A dynamic region's area is then held by
    /// a kernel device of exactly the area's range until the next start reads it, so that the kernel gives the range
    /// to no other device; a static region's is the tail of its one device (bound for the write if it was not).
    /// - Returns: the kernel device that holds the area (`daxR.N`).
    func writeLiveUpdateArea(_ bytes: [UInt8], region: Int) throws -> String

    /// Reads the region's area through a device that maps it, without writing a byte of the region's memory, and
    /// gives back the range to the region when a holder (or a device made only to read it) held it. `nil` when the
    /// area cannot be read (a device that is not a holder holds a dynamic region's range, or a static region's
    /// device is not bound to `device_dax`).
    func readLiveUpdateArea(region: Int) throws -> [UInt8]?
}
