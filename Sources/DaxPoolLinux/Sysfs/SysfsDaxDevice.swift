// Linux only.
import DaxPoolCore
import SystemPackage

/// A dax-bus device `/sys/bus/dax/devices/daxR.N` (a `dev_dax` instance) as sysfs shows it.
public struct SysfsDaxDevice: Hashable, Sendable {
    /// `daxR.N`.
    public var name: String
    /// The device's id, parsed from its name.
    public var id: DaxPoolCore.DeviceID
    /// The canonical device directory relative to the sysfs root, e.g. `devices/platform/hmem.0/dax0.1`.
    public var path: FilePath
    /// `size` (`%llu`): the sum of the mappings.
    public var size: UInt64
    /// `align` (`%d`); `nil` on kernels before 5.10.
    public var align: UInt64?
    /// The driver bound to the device (the last component of the `driver` link): `device_dax`, `kmem`, or `nil`
    /// when the device is disabled.
    public var driver: String?
    /// `mappingK/` in page-offset order.
    public var mappings: [SysfsDaxMapping]
    /// `resource` (root-only, `%#llx`): the start of the first mapping, or the region start when the device has
    /// no mapping.
    public var resource: UInt64?
    /// `target_node`, hidden by the kernel when negative.
    public var targetNode: Int?
    /// `numa_node`, `-1` when unknown.
    public var numaNode: Int?
    /// Whether the device has the write-only `mapping` attribute, i.e. it belongs to a dynamic region.
    public var acceptsMappings: Bool

    /// A device as read from sysfs, every attribute given.
    public init(
        name: String,
        id: DaxPoolCore.DeviceID,
        path: FilePath,
        size: UInt64,
        align: UInt64?,
        driver: String?,
        mappings: [SysfsDaxMapping],
        resource: UInt64?,
        targetNode: Int?,
        numaNode: Int?,
        acceptsMappings: Bool
    ) {
        self.name = name
        self.id = id
        self.path = path
        self.size = size
        self.align = align
        self.driver = driver
        self.mappings = mappings
        self.resource = resource
        self.targetNode = targetNode
        self.numaNode = numaNode
        self.acceptsMappings = acceptsMappings
    }

    /// Bound to `device_dax`: `/dev/daxR.N` can be opened and mapped.
    public var isEnabled: Bool { driver == "device_dax" }

    /// Zero-sized and unbound: a seed or an idle device (`daxctl list` hides these without `-i`).
    public var isIdle: Bool { size == 0 && driver == nil }
}
