// Linux only.
import SystemPackage

/// A libnvdimm namespace `/sys/bus/nd/devices/namespaceN.M` (`drivers/nvdimm/namespace_devs.c`).
public struct SysfsNdNamespace: Hashable, Sendable {
    /// `namespaceN.M`.
    public var name: String
    /// The canonical directory relative to the sysfs root.
    public var path: FilePath
    /// `devtype`: `nd_namespace_io` (label-less, e.g. e820), `nd_namespace_pmem` (labelled).
    public var devtype: String?
    /// `nstype`: 4 = io, 5 = pmem.
    public var nstype: Int?
    /// `mode`: `raw`, `safe` (sector), `memory` (fsdax) or `dax` (devdax).
    public var mode: String?
    /// `size` (`%llu`).
    public var size: UInt64
    /// `resource` (root-only): the physical start.
    public var resource: UInt64?
    /// `holder`: the claim device (`daxN.M`, `pfnN.M`, `bttN.M`) that owns the namespace, if any.
    public var holder: String?
    /// `holder_class`: `dax`, `pfn`, `btt`, `btt2` or empty.
    public var holderClass: String?
    /// `uuid`, for labelled namespaces.
    public var uuid: String?
    /// `alt_name`, for labelled namespaces.
    public var alternateName: String?
    /// The bound driver (`nd_pmem` when the namespace is a plain block device), or `nil`.
    public var driver: String?
    /// `numa_node`.
    public var numaNode: Int?

    /// A namespace as read from sysfs, every attribute given.
    public init(
        name: String, path: FilePath, devtype: String?, nstype: Int?, mode: String?, size: UInt64, resource: UInt64?,
        holder: String?, holderClass: String?, uuid: String?, alternateName: String?, driver: String?, numaNode: Int?
    ) {
        self.name = name
        self.path = path
        self.devtype = devtype
        self.nstype = nstype
        self.mode = mode
        self.size = size
        self.resource = resource
        self.holder = holder
        self.holderClass = holderClass
        self.uuid = uuid
        self.alternateName = alternateName
        self.driver = driver
        self.numaNode = numaNode
    }

    /// N of `namespaceN.M`: the nd region, and the id of the dax region a devdax claim of it makes.
    public var regionID: Int? {
        guard name.hasPrefix("namespace") else { return nil }
        let parts = name.dropFirst("namespace".count).split(separator: ".")
        return parts.count == 2 ? Int(parts[0]) : nil
    }
}
