// Linux only.
import DaxPoolCore
import SystemPackage

/// A dax region: the `dax_region/` attribute group of the device that provides it (`hmem.N` for soft-reserved
/// memory, an nd `daxN.M` claim device for a pmem namespace, a CXL `dax_regionN`) plus the dax devices under it.
public struct SysfsDaxRegion: Hashable, Sendable {
    /// `dax_region/id`: the R of `daxR.N`.
    public var id: Int
    /// The canonical directory of the providing device relative to the sysfs root, e.g. `devices/platform/hmem.0`;
    /// `dax_region/` and the `daxR.N` directories are inside it.
    public var path: FilePath
    /// `dax_region/size` (`%llu`).
    public var size: UInt64
    /// `dax_region/align` (root-only, `%u`): the default alignment of new devices.
    public var align: UInt64
    /// `dax_region/available_size` (`%llu`): bytes no device holds. `nil` for a static region, which hides it.
    public var availableSize: UInt64?
    /// `dax_region/seed`: the first created device that was never bound, if any. Dynamic regions only.
    public var seed: String?
    /// `dax_region/create` read back: the youngest created device, if any. Dynamic regions only.
    public var youngest: String?
    /// `resource` of the providing device (root-only), when it has one (nd claim devices and CXL regions do,
    /// `hmem.N` does not).
    public var parentResource: UInt64?
    /// The region's devices in instance order.
    public var devices: [SysfsDaxDevice]

    /// A region as read from sysfs, every attribute given.
    public init(
        id: Int,
        path: FilePath,
        size: UInt64,
        align: UInt64,
        availableSize: UInt64?,
        seed: String?,
        youngest: String?,
        parentResource: UInt64?,
        devices: [SysfsDaxDevice]
    ) {
        self.id = id
        self.path = path
        self.size = size
        self.align = align
        self.availableSize = availableSize
        self.seed = seed
        self.youngest = youngest
        self.parentResource = parentResource
        self.devices = devices
    }

    /// Whether devices can be created, resized and given explicit ranges (soft-reserved/hmem and CXL RAM regions:
    /// `dax_region/create` exists). Static regions (pmem and CXL namespaces) have exactly the devices the namespace
    /// made, with read-only `size` and `align`.
    public var isDynamic: Bool { availableSize != nil }

    /// The NUMA node the region's memory becomes when onlined: its devices' `target_node`.
    public var targetNode: Int? { devices.lazy.compactMap(\.targetNode).first }

    /// The device's `numa_node` (the closest online node).
    public var numaNode: Int? { devices.lazy.compactMap(\.numaNode).first }

    /// The physical address of the region's first byte. sysfs has no `dax_region/resource`, so it is found from, in
    /// order: the providing device's `resource`; a device without mappings, whose `resource` is the region start;
    /// a device whose single mapping covers the whole region. `nil` when none applies.
    public var physicalStart: UInt64? {
        if let parentResource { return parentResource }
        if let empty = devices.first(where: { $0.mappings.isEmpty && $0.size == 0 }), let start = empty.resource {
            return start
        }
        for device in devices where device.mappings.count == 1 && device.mappings[0].size == size {
            return device.mappings[0].start
        }
        return nil
    }

    /// The device `daxR.N` with instance `instance`.
    public func device(instance: Int) -> SysfsDaxDevice? {
        devices.first { $0.id.instance == instance }
    }

    /// The device named `name`.
    public func device(named name: String) -> SysfsDaxDevice? {
        devices.first { $0.name == name }
    }

    /// Every mapping of every device, with its owner, in address order.
    public var allocations: [(device: String, mapping: SysfsDaxMapping)] {
        devices.flatMap { device in device.mappings.map { (device.name, $0) } }.sorted { $0.1.start < $1.1.start }
    }
}
