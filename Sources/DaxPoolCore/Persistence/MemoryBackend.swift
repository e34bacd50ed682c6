/// Where device memory comes from. The daemon holds one per backend kind and never imports Linux code.
public protocol MemoryBackend: Sendable {
    var kind: BackendKind { get }

    /// Prepares a region (creates its directory, mounts, reserves pages) and returns its final config.
    func createRegion(_ request: RegionConfig) throws -> RegionConfig

    /// Releases everything `createRegion` took.
    func destroyRegion(_ config: RegionConfig) throws

    /// Grows or shrinks the memory behind `config` to `newSize` (the model has checked that no device, pending scrub
    /// or bad block holds memory past it) and returns the region's new config. A failure leaves the region exactly
    /// as it was. Backends that cannot resize refuse (`BackendRefusal`, the default).
    func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws -> RegionConfig

    /// The path a VMM opens for the device, or `nil` if the backend has none (`sim`).
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String?

    /// The instance number the next device of `region` gets. File backends take `proposed` (the lowest
    /// free number); devdax takes the kernel's seed device, whose number the kernel chose.
    func claimDeviceInstance(in region: RegionConfig, proposed: Int) throws -> Int

    /// Creates or resizes the device's memory to `size` bytes, committed when this returns.
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws

    /// `provisionDevice(_:size:extents:in:)` for a device of alignment `align`: backends that enforce the alignment
    /// themselves (devdax writes it to the kernel) implement this one.
    func provisionDevice(
        _ device: DeviceID, size: ByteCount, extents: [Extent], align: Alignment, in region: RegionConfig
    ) throws

    /// Makes the device's path appear (enabled) or disappear (disabled).
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws

    /// Removes the device's memory, zeroing it first when the backend keeps it for reuse (`scrubsRetiredMemory`).
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws

    /// Gives the device's memory (its file) to `uid`, readable and writable by that uid only (mode 0600).
    func setDeviceOwner(_ device: DeviceID, uid: UInt32, in region: RegionConfig) throws

    /// Takes the device's memory away from whoever maps it, before a forced destroy: file backends truncate
    /// the file to zero, so a holder's next access faults with `SIGBUS`.
    func revokeDevice(_ device: DeviceID, in region: RegionConfig) throws

    /// Whether a destroyed device's memory stays with the backend and must be zeroed by `scrubRetired` before it
    /// is reused (`true`), or goes back to the kernel, which zeroes it before anyone gets it again (`false`).
    func scrubsRetiredMemory(in region: RegionConfig) -> Bool

    /// Whether a destroyed device of `size` bytes goes through `retireDevice` and `scrubRetired` (`true`), or
    /// through `destroyDevice`, its memory back to the kernel at once (`false`: small devices, whose pages the
    /// kernel zeroes as fast as a scrub would). Defaults to `scrubsRetiredMemory(in:)`.
    func scrubsRetiredMemory(of size: ByteCount, in region: RegionConfig) -> Bool

    /// Takes a destroyed device's memory out of sight under `token`, quickly and without zeroing it: its path is
    /// gone when this returns and the memory is never handed out before `scrubRetired(token:)` zeroed it.
    /// Called only when `scrubsRetiredMemory` is `true`.
    func retireDevice(_ device: DeviceID, token: String, in region: RegionConfig) throws

    /// Zeroes the memory retired under `token` and makes it reusable (or gives it back to the kernel when it
    /// cannot be zeroed or someone still holds it). Memory that is already gone (a restart removed it) is fine.
    /// Long: called off the request path. `progress` hears (bytes zeroed, total bytes) on the calling thread, in
    /// order, ending with (total, total). `size` is the device's size: memory its last owner added beyond it (a
    /// file grown with `ftruncate` or `fallocate`) is cut back.
    func scrubRetired(
        token: String, size: ByteCount, in region: RegionConfig, progress: (ByteCount, ByteCount) -> Void
    ) throws

    /// Finishes `scrubRetired(token:)` at once when that is quick: the retired memory is small and holds nothing to
    /// zero (nothing in it was ever written, as the file system tells), or it must go back to the kernel (someone
    /// still holds it). Called on the request path, so it never stores to memory.
    /// - Returns: `true` when the scrub is done (the memory is reusable, or went back to the kernel, or is gone);
    ///   `false` when it needs `scrubRetired` off the request path, with the memory still retired under `token`.
    func scrubRetiredAtOnce(token: String, size: ByteCount, in region: RegionConfig) throws -> Bool

    /// Provisions a new device at once when that is quick (memory ready for it, such as a pooled file of exactly its
    /// size), as `provisionDevice(_:size:extents:align:in:progress:)` would, and gives it to `owner` as
    /// `setDeviceOwner` would when `owner` is given. Called on the request path.
    /// - Returns: `true` when the device's memory is there (and `owner`'s); `false` when nothing was done and the
    ///   device needs `provisionDevice` off the request path.
    func provisionDeviceAtOnce(_ device: DeviceID, size: ByteCount, owner: UInt32?, in region: RegionConfig) throws
        -> Bool

    /// Creates or resizes the device's memory as `provisionDevice(_:size:extents:align:in:)` does, telling
    /// `progress` (bytes allocated and faulted, total bytes) as it goes. The daemon calls this one.
    func provisionDevice(
        _ device: DeviceID,
        size: ByteCount,
        extents: [Extent],
        align: Alignment,
        in region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws

    /// What the host spends on page metadata (`struct page`) for the region's memory.
    func pageMetadata(for region: RegionConfig) -> PageMetadata

    /// The region's `align` as `daxctl list -R` prints it: the kernel's `dax_region/align` for a devdax region, the
    /// page size for the others (4K for shm, 2M or 1G for hugetlb). Not the largest device alignment the region
    /// allows (`RegionConfig.align`).
    func reportedAlign(of region: RegionConfig) -> UInt64

    /// The ids the system gives its own memory regions, which a region of another backend must not take so that
    /// adopting those regions later keeps their ids (devdax: the kernel's dax and nd regions, one id space); none
    /// for backends without such regions.
    func systemRegionIDs() -> Set<Int>

    /// Makes the ready memory `region.pool` names (file backends: zeroed, allocated files of those sizes), as far
    /// as the region's free memory allows. Long: called off the request path. `shouldContinue` is asked between
    /// steps and stops the fill when it answers `false`; `progress` hears (bytes made, bytes missing at the start).
    func fillPool(in region: RegionConfig, shouldContinue: () -> Bool, progress: (ByteCount, ByteCount) -> Void) throws

    /// The sizes of the region's ready memory files, smallest first; none for backends without a pool.
    func readyFiles(in region: RegionConfig) -> [ByteCount]

    /// Brings the backend in line with persisted state after a start: recreates what is missing. Superseded by
    /// `reconcile(_:devices:pendingScrubs:mode:)`, which the daemon calls; backends that implement that one make
    /// this one its `.normal` mode without pending scrubs.
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws

    /// Brings the backend in line with persisted state after a start, destroying nothing that no record accounts
    /// for.
    /// - `.normal`: recreates what is missing and brings names and sizes in line; memory no device owns is retired
    ///   under the token of a pending scrub that names its device, and otherwise kept (file backends move it,
    ///   untouched, to the region's `lost+found`); what cannot be brought in line without destroying memory (a
    ///   device file larger than its record, a dax device whose kernel layout differs) is left as it is and
    ///   reported as a doubt.
    /// - `.keep` (the region is in doubt): mounts and claims the region so that device paths work, and changes no
    ///   device file or kernel device at all; what it finds is reported.
    /// - Returns: what was moved to `lost+found`, the doubts and notes.
    func reconcile(
        _ region: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode
    ) throws -> ReconcileReport

    /// The files in the region's `lost+found`, by name; none for backends without files.
    func lostFiles(in region: RegionConfig) -> [LostFile]

    /// The memory the device holds now, which its owner may have grown past its size (a file backend's file
    /// grown with `ftruncate` or `fallocate`); `nil` when the backend cannot tell or the owner cannot grow it.
    func memoryHeld(by device: DeviceID, in region: RegionConfig) -> ByteCount?
}

extension MemoryBackend {
    /// Backends whose owners cannot grow a device cannot tell: `nil`.
    public func memoryHeld(by device: DeviceID, in region: RegionConfig) -> ByteCount? { nil }

    /// Refuses: this backend cannot change a region's size at runtime.
    public func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws -> RegionConfig {
        if kind == .devdax {
            throw BackendRefusal(
                .invalidRequest,
                "a devdax region cannot be resized: its size is the kernel's carve (the dax region or namespace it "
                    + "adopts); change the carve (memmap=, efi_fake_mem= or the namespace) and adopt it again")
        }
        throw BackendRefusal(
            .invalidRequest,
            "the \(kind) backend cannot resize a region: create another region, or move the devices to one of the "
                + "size you need")
    }

    /// Takes `proposed`, the lowest free instance number: only devdax lets the kernel choose.
    public func claimDeviceInstance(in region: RegionConfig, proposed: Int) throws -> Int { proposed }

    /// Ignores `align` and provisions as `provisionDevice(_:size:extents:in:)` does, for backends whose memory
    /// needs no alignment of its own.
    public func provisionDevice(
        _ device: DeviceID, size: ByteCount, extents: [Extent], align: Alignment, in region: RegionConfig
    ) throws {
        try provisionDevice(device, size: size, extents: extents, in: region)
    }

    /// Backends without device files (`sim`) have nothing to give.
    public func setDeviceOwner(_ device: DeviceID, uid: UInt32, in region: RegionConfig) throws {}

    /// Backends without device files (`sim`) have nothing to revoke.
    public func revokeDevice(_ device: DeviceID, in region: RegionConfig) throws {}

    /// Backends that give a destroyed device's memory back to the kernel at once (which zeroes it) keep nothing to
    /// scrub: `false`.
    public func scrubsRetiredMemory(in region: RegionConfig) -> Bool { false }

    /// The same answer for every size: `scrubsRetiredMemory(in:)`.
    public func scrubsRetiredMemory(of size: ByteCount, in region: RegionConfig) -> Bool {
        scrubsRetiredMemory(in: region)
    }

    /// Destroys the device at once (`destroyDevice`): backends that keep no memory for reuse have nothing to retire.
    public func retireDevice(_ device: DeviceID, token: String, in region: RegionConfig) throws {
        try destroyDevice(device, in: region)
    }

    /// Nothing to zero for backends that retire nothing.
    public func scrubRetired(
        token: String, size: ByteCount, in region: RegionConfig, progress: (ByteCount, ByteCount) -> Void
    ) throws {}

    /// Never at once: backends that retire nothing have nothing to scrub, and the others say when they can.
    public func scrubRetiredAtOnce(token: String, size: ByteCount, in region: RegionConfig) throws -> Bool { false }

    /// Never at once: the daemon provisions off the request path unless the backend says it can do better.
    public func provisionDeviceAtOnce(_ device: DeviceID, size: ByteCount, owner: UInt32?, in region: RegionConfig)
        throws -> Bool
    {
        false
    }

    /// `provisionDeviceAtOnce(_:size:owner:in:)` leaving the owner as it is (the daemon's).
    public func provisionDeviceAtOnce(_ device: DeviceID, size: ByteCount, in region: RegionConfig) throws -> Bool {
        try provisionDeviceAtOnce(device, size: size, owner: nil, in: region)
    }

    /// Provisions as `provisionDevice(_:size:extents:align:in:)` does, then reports (size, size) once: backends that
    /// cannot tell how far they are say only that they are done.
    public func provisionDevice(
        _ device: DeviceID,
        size: ByteCount,
        extents: [Extent],
        align: Alignment,
        in region: RegionConfig,
        progress: (ByteCount, ByteCount) -> Void
    ) throws {
        try provisionDevice(device, size: size, extents: extents, align: align, in: region)
        progress(size, size)
    }

    /// The region's size in its page size, without HVO (4 KiB pages for shm, so 64 B per 4 KiB).
    public func pageMetadata(for region: RegionConfig) -> PageMetadata {
        PageMetadata(memory: region.size, pageSize: region.pageSize, vmemmapOptimized: false)
    }

    /// The page size: what `daxctl list -R` would print for memory of that granularity.
    public func reportedAlign(of region: RegionConfig) -> UInt64 { region.pageSize.rawValue }

    /// Backends without regions of the system's own have none.
    public func systemRegionIDs() -> Set<Int> { [] }

    /// Backends without a pool (`devdax`, `sim`) have nothing to fill.
    public func fillPool(
        in region: RegionConfig, shouldContinue: () -> Bool, progress: (ByteCount, ByteCount) -> Void
    ) throws {}

    /// Backends without a pool have no ready files.
    public func readyFiles(in region: RegionConfig) -> [ByteCount] { [] }

    /// Backends without their own: `.normal` is `reconcile(_:devices:)`, `.keep` does nothing; nothing to report.
    public func reconcile(
        _ region: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode
    ) throws -> ReconcileReport {
        if mode == .normal { try reconcile(region, devices: devices) }
        return ReconcileReport()
    }

    /// Backends without files (`sim`, `devdax`) have no `lost+found`.
    public func lostFiles(in region: RegionConfig) -> [LostFile] { [] }
}

/// A failure inside a backend: the operation, the path and the errno.
public struct BackendError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The step that failed, such as `write`, `online` or `lend`.
    public var operation: String
    /// The file, directory or sysfs attribute it acted on.
    public var path: String
    /// The `errno.h` number the failure came with.
    public var errno: SystemErrorNumber
    /// The whole story in words, for logs and error bodies.
    public var message: String

    /// A backend error with every field given.
    public init(operation: String, path: String, errno: SystemErrorNumber, message: String) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
