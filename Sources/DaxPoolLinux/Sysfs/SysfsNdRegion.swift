// Linux only.
import SystemPackage

/// A libnvdimm region `/sys/bus/nd/devices/regionN` (`drivers/nvdimm/region_devs.c`) with its namespaces and claim
/// devices.
public struct SysfsNdRegion: Hashable, Sendable {
    /// One `badblocks` line: `count` 512-byte sectors from `sector`, relative to the region start.
    public struct BadBlock: Hashable, Sendable {
        /// The first bad 512-byte sector, from the region start.
        public var sector: UInt64
        /// How many 512-byte sectors are bad.
        public var count: UInt64

        /// `count` bad sectors from `sector`.
        public init(sector: UInt64, count: UInt64) {
            self.sector = sector
            self.count = count
        }
    }

    /// `regionN`.
    public var name: String
    /// The N of `regionN`.
    public var id: Int
    /// The canonical directory relative to the sysfs root.
    public var path: FilePath
    /// `devtype`: `nd_pmem`, `nd_blk`, `nd_volatile`.
    public var devtype: String?
    /// `nstype`: the namespace type of the region (4 = io, label-less; 5 = pmem, labelled).
    public var nstype: Int?
    /// `size`.
    public var size: UInt64
    /// `align` (`%#lx`): the allocation alignment for new namespaces.
    public var align: UInt64?
    /// `available_size`.
    public var availableSize: UInt64?
    /// `max_available_extent`.
    public var maxAvailableExtent: UInt64?
    /// `badblocks`.
    public var badBlocks: [BadBlock]
    /// `resource` (root-only): the physical base.
    public var resource: UInt64?
    /// `namespace_seed`, `dax_seed`, `pfn_seed`, `btt_seed`: the idle devices to configure next.
    public var namespaceSeed: String?
    /// `dax_seed`: the idle `daxN.M` claim device to configure next.
    public var daxSeed: String?
    /// `pfn_seed`: the idle `pfnN.M` claim device to configure next.
    public var pfnSeed: String?
    /// `btt_seed`: the idle `bttN.M` claim device to configure next.
    public var bttSeed: String?
    /// `numa_node` and `target_node`.
    public var numaNode: Int?
    /// `target_node`: the node the memory would join as System RAM.
    public var targetNode: Int?
    /// `persistence_domain`: `cpu_cache`, `memory_controller` or empty.
    public var persistenceDomain: String?
    /// The region's `namespaceN.M` namespaces.
    public var namespaces: [SysfsNdNamespace]
    /// The region's `daxN.M`, `pfnN.M` and `bttN.M` claim devices.
    public var claims: [SysfsNdClaim]

    /// A region as read from sysfs, every attribute given.
    public init(
        name: String, id: Int, path: FilePath, devtype: String?, nstype: Int?, size: UInt64, align: UInt64?,
        availableSize: UInt64?, maxAvailableExtent: UInt64?, badBlocks: [BadBlock], resource: UInt64?,
        namespaceSeed: String?, daxSeed: String?, pfnSeed: String?, bttSeed: String?, numaNode: Int?,
        targetNode: Int?, persistenceDomain: String?, namespaces: [SysfsNdNamespace], claims: [SysfsNdClaim]
    ) {
        self.name = name
        self.id = id
        self.path = path
        self.devtype = devtype
        self.nstype = nstype
        self.size = size
        self.align = align
        self.availableSize = availableSize
        self.maxAvailableExtent = maxAvailableExtent
        self.badBlocks = badBlocks
        self.resource = resource
        self.namespaceSeed = namespaceSeed
        self.daxSeed = daxSeed
        self.pfnSeed = pfnSeed
        self.bttSeed = bttSeed
        self.numaNode = numaNode
        self.targetNode = targetNode
        self.persistenceDomain = persistenceDomain
        self.namespaces = namespaces
        self.claims = claims
    }

    /// The region's namespace `name` (`namespaceN.M`), or `nil` when it has none of that name.
    public func namespace(named name: String) -> SysfsNdNamespace? { namespaces.first { $0.name == name } }

    /// The region's claim device `name` (`daxN.M`, `pfnN.M`, `bttN.M`), or `nil` when it has none of that name.
    public func claim(named name: String) -> SysfsNdClaim? { claims.first { $0.name == name } }
}
