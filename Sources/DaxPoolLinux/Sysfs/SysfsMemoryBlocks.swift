// Linux only.
import DaxPoolCore
import SystemPackage

/// The kernel's hot-pluggable memory blocks, `/sys/devices/system/memory` (`Documentation/admin-guide/mm/
/// memory-hotplug.rst`): `block_size_bytes` (hex without `0x`), `auto_online_blocks`, and per block `memoryN/`
/// with `state` (`online`, `offline`, `going-offline`; writes `online_movable`, `online_kernel`, `online`,
/// `offline`) and `valid_zones` (the block's zone while online). Block N covers the physical bytes
/// `[N × block size, (N + 1) × block size)`.
public struct SysfsMemoryBlocks: Sendable {
    /// Typed access to the sysfs tree the memory blocks live in.
    public let attributes: SysfsAttributes

    /// `devices/system/memory`.
    public static let directory: FilePath = "devices/system/memory"
    /// `module/memory_hotplug/parameters/memmap_on_memory`: `Y` when hot-added memory may hold its own `struct page`s.
    public static let memmapOnMemoryParameter: FilePath = "module/memory_hotplug/parameters/memmap_on_memory"

    /// The memory blocks of the sysfs tree `access`.
    public init(_ access: any SysfsAccess) {
        self.attributes = SysfsAttributes(access)
    }

    /// `block_size_bytes` (`%lx`, hex without `0x`).
    public func blockSize() throws(SysfsError) -> UInt64 {
        let path = Self.directory.appending("block_size_bytes")
        let text = try attributes.text(path).trimmingSpaces()
        let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
        guard let size = UInt64(digits, radix: 16), size > 0 else {
            throw SysfsError(
                operation: "parse", path: attributes.access.absolute(path).string, errno: .badMessage, detail: text)
        }
        return size
    }

    /// `auto_online_blocks`: what the kernel does with hot-added blocks (`offline`, `online`, `online_kernel`,
    /// `online_movable`); `nil` when the kernel has no memory hot-plug.
    public func autoOnline() -> String? {
        attributes.optionalText(Self.directory.appending("auto_online_blocks"))?.trimmingSpaces()
    }

    /// Whether the kernel puts hot-added memory's `struct page`s on that memory (`memmap_on_memory=Y`).
    public func memmapOnMemory() -> Bool {
        attributes.optionalText(Self.memmapOnMemoryParameter)?.trimmingSpaces().uppercased().hasPrefix("Y") ?? false
    }

    /// The whole blocks inside `ranges`, ascending: the ones `kmem` hot-adds (it skips parts of a range that are not
    /// block-aligned).
    public static func blocks(covering ranges: [DevDaxRange], blockSize: UInt64) -> [Int] {
        guard blockSize > 0 else { return [] }
        var blocks: [Int] = []
        for range in ranges {
            let first = (range.start &+ blockSize &- 1) / blockSize
            let end = (range.last &+ 1) / blockSize
            guard end > first else { continue }
            for block in first..<end { blocks.append(Int(block)) }
        }
        return blocks.sorted()
    }

    /// `memoryN/`.
    public static func blockDirectory(_ block: Int) -> FilePath { directory.appending("memory\(block)") }

    /// Whether the kernel has block N (it exists once `kmem` hot-added it).
    public func exists(_ block: Int) -> Bool { attributes.exists(Self.blockDirectory(block).appending("state")) }

    /// `memoryN/state`: `online`, `offline` or `going-offline`.
    public func state(_ block: Int) throws(SysfsError) -> String {
        try attributes.text(Self.blockDirectory(block).appending("state")).trimmingSpaces()
    }

    /// `memoryN/valid_zones`: while online, the zone the block is in (`Movable`, `Normal`, `DMA32`).
    public func zones(_ block: Int) -> String? {
        attributes.optionalText(Self.blockDirectory(block).appending("valid_zones"))?.trimmingSpaces()
    }

    /// Writes `online_movable` to `memoryN/state`: the block joins ZONE_MOVABLE, so only movable pages land in it
    /// and it can be offlined again.
    public func onlineMovable(_ block: Int) throws(SysfsError) {
        try attributes.write(Self.blockDirectory(block).appending("state"), "online_movable")
    }

    /// Writes `offline` to `memoryN/state`, on this thread: the kernel isolates the block and migrates every page
    /// out of it, retrying until it is empty or a signal arrives (`EINTR`). `EBUSY` when it holds pages that cannot
    /// move.
    public func offline(_ block: Int) throws(SysfsError) {
        try attributes.write(Self.blockDirectory(block).appending("state"), "offline")
    }
}
