/// What `daxpool plan` knows about a host's memory: read from `/proc/iomem`, `/proc/cmdline`,
/// `/sys/devices/system/memory/block_size_bytes`, `/sys/devices/system/node`, `/sys/kernel/mm/hugepages` and
/// `/proc/sys/vm/hugetlb_optimize_vmemmap` by the CLI, and planned over here without I/O.
public struct HostMemoryFacts: Hashable, Sendable {
    /// One NUMA node's memory, as memory block indices (`/sys/devices/system/node/nodeN/memoryM`).
    public struct NodeMemory: Hashable, Sendable {
        /// The node id.
        public var id: Int
        /// The memory block indices (block `M` covers `M * blockSize ..< (M + 1) * blockSize`).
        public var blocks: [UInt64]

        /// Node `id` with the memory blocks `blocks`.
        public init(id: Int, blocks: [UInt64]) {
            self.id = id
            self.blocks = blocks
        }
    }

    /// One HugeTLB pool (`/sys/kernel/mm/hugepages/hugepages-NkB`, or a node's).
    public struct HugePagePool: Hashable, Sendable, Codable {
        /// The page size in bytes.
        public var pageSize: UInt64
        /// `nr_hugepages`.
        public var total: UInt64
        /// `free_hugepages`.
        public var free: UInt64

        /// A pool of `total` pages of `pageSize` bytes, `free` of them unused.
        public init(pageSize: UInt64, total: UInt64, free: UInt64) {
            self.pageSize = pageSize
            self.total = total
            self.free = free
        }

        enum CodingKeys: String, CodingKey {
            case pageSize = "page_size"
            case total, free
        }
    }

    /// `/proc/iomem`.
    public var map: IOMemoryMap
    /// `/proc/cmdline`.
    public var commandLine: BootCommandLine
    /// `/sys/devices/system/memory/block_size_bytes`.
    public var blockSize: UInt64
    /// The nodes with memory; empty when unknown (then the whole map is one node, 0).
    public var nodes: [NodeMemory]
    /// The HugeTLB pools.
    public var hugePagePools: [HugePagePool]
    /// `/proc/sys/vm/hugetlb_optimize_vmemmap` is 1.
    public var vmemmapOptimized: Bool
    /// `/sys/firmware/efi` exists: the host boots with EFI, so `efi_fake_mem=` can soft-reserve memory.
    public var bootsWithEFI: Bool

    /// The facts of a host; the nodes default to unknown, the pools to none, HVO and EFI to off.
    public init(
        map: IOMemoryMap, commandLine: BootCommandLine, blockSize: UInt64, nodes: [NodeMemory] = [],
        hugePagePools: [HugePagePool] = [], vmemmapOptimized: Bool = false, bootsWithEFI: Bool = false
    ) {
        self.map = map
        self.commandLine = commandLine
        self.blockSize = blockSize
        self.nodes = nodes
        self.hugePagePools = hugePagePools
        self.vmemmapOptimized = vmemmapOptimized
        self.bootsWithEFI = bootsWithEFI
    }

    /// The node's memory as merged `start..<end` ranges.
    func ranges(of node: NodeMemory) -> [(start: UInt64, end: UInt64)] {
        var result: [(start: UInt64, end: UInt64)] = []
        for block in node.blocks.sorted() {
            let (start, overflow) = block.multipliedReportingOverflow(by: blockSize)
            guard !overflow else { continue }
            if let last = result.last, last.end == start {
                result[result.count - 1].end = start &+ blockSize
            } else {
                result.append((start, start &+ blockSize))
            }
        }
        return result
    }
}
