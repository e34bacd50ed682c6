// Linux only.
import SystemPackage

/// A libnvdimm claim device `/sys/bus/nd/devices/{daxN.M,pfnN.M,bttN.M}` (`drivers/nvdimm/pfn_devs.c`,
/// `btt_devs.c`): it claims a namespace and, bound to its driver (`dax_pmem` for an `nd_dax`), turns it into a
/// devdax (or fsdax, sector) namespace. These are not the dax-bus devices of the same names.
public struct SysfsNdClaim: Hashable, Sendable {
    /// `daxN.M`, `pfnN.M` or `bttN.M`.
    public var name: String
    /// The canonical directory relative to the sysfs root.
    public var path: FilePath
    /// `devtype`: `nd_dax`, `nd_pfn` or `nd_btt`.
    public var devtype: String?
    /// `mode`: where the page metadata lives, `none`, `ram` (ndctl `--map=mem`) or `pmem` (`--map=dev`).
    public var mode: String?
    /// `align`.
    public var align: UInt64?
    /// `namespace`: the claimed namespace, or `nil`.
    public var namespace: String?
    /// `uuid` of the info block.
    public var uuid: String?
    /// `supported_alignments`, e.g. 4096 2097152 1073741824.
    public var supportedAlignments: [UInt64]
    /// The bound driver (`dax_pmem`, `nd_pmem`, `nd_btt`), or `nil`.
    public var driver: String?
    /// `size` after the info block and memmap reserve (`nil` while unbound: the kernel answers `ENXIO`).
    public var size: UInt64?
    /// `resource` (root-only): the data start (`nil` while unbound).
    public var resource: UInt64?

    /// A claim device as read from sysfs, every attribute given.
    public init(
        name: String, path: FilePath, devtype: String?, mode: String?, align: UInt64?, namespace: String?,
        uuid: String?, supportedAlignments: [UInt64], driver: String?, size: UInt64?, resource: UInt64?
    ) {
        self.name = name
        self.path = path
        self.devtype = devtype
        self.mode = mode
        self.align = align
        self.namespace = namespace
        self.uuid = uuid
        self.supportedAlignments = supportedAlignments
        self.driver = driver
        self.size = size
        self.resource = resource
    }
}
