/// A backend that can lend a device's memory to the host as System RAM and take it back (devdax through `kmem`).
/// The daemon decides what to lend (`LendPlan`); the backend does it to the kernel.
public protocol MemoryLending: Sendable {
    /// The kernel's memory block size: only whole, block-aligned blocks can be lent.
    func memoryBlockSize() throws -> ByteCount

    /// Gives the provisioned device's memory to the host: unbinds `device_dax`, binds `kmem` (with
    /// `memmap_on_memory` where the kernel offers it), and onlines every block movable. `progress` hears (bytes
    /// online, total). On failure nothing stays lent: what was onlined is offlined again and the device is back
    /// with `device_dax`, unbound.
    func lend(_ device: DeviceID, in region: RegionConfig, progress: (ByteCount, ByteCount) -> Void) throws

    /// Takes the lent device's memory back from the host: offlines its blocks (the kernel migrates the host's pages
    /// out), retrying until `timeLimit`, then unbinds `kmem`. `progress` hears (bytes offline, total). When the
    /// offline cannot finish in time, the blocks already offlined are onlined again (the device stays fully lent)
    /// and the error says how far it came and why. The memory is not zeroed here: `destroyDevice` does that.
    func reclaim(
        _ device: DeviceID, in region: RegionConfig, timeLimit: Duration, progress: (ByteCount, ByteCount) -> Void
    ) throws

    /// How the kernel holds a lent device now, or `nil` when it is not bound to `kmem`.
    func lendStatus(_ device: DeviceID, in region: RegionConfig) -> LendStatus?
}

/// A lent device's memory blocks as `daxctl list` shows them for a device in system-ram mode.
public struct LendStatus: Hashable, Sendable {
    /// Blocks online.
    public var onlineBlocks: Int
    /// Blocks the device's memory spans.
    public var totalBlocks: Int
    /// Whether every online block is in ZONE_MOVABLE.
    public var movable: Bool

    /// A status with `onlineBlocks` of the device's `totalBlocks` memory blocks online; `movable` says whether all
    /// online blocks are in ZONE_MOVABLE.
    public init(onlineBlocks: Int, totalBlocks: Int, movable: Bool) {
        self.onlineBlocks = onlineBlocks
        self.totalBlocks = totalBlocks
        self.movable = movable
    }
}
