/// What `daxpool plan` asks for.
public struct CarveRequest: Hashable, Sendable {
    /// The memory to carve for guests.
    public var guestMemory: ByteCount
    /// The page size guests map it with: 2 MiB or 1 GiB.
    public var pageSize: Alignment
    /// Whether to split the memory evenly across the NUMA nodes with memory.
    public var perNode: Bool

    /// A request for `guestMemory` bytes in pages of `pageSize` (2 MiB unless given), on one node unless `perNode`.
    public init(guestMemory: ByteCount, pageSize: Alignment = .page2M, perNode: Bool = false) {
        self.guestMemory = guestMemory
        self.pageSize = pageSize
        self.perNode = perNode
    }
}

/// A plan to carve guest memory at boot, both ways, with the daxpool configuration that adopts it.
public struct CarvePlan: Hashable, Sendable, Codable {
    /// One soft-reserved range.
    public struct Range: Hashable, Sendable, Codable {
        /// The first byte.
        public var start: UInt64
        /// The number of bytes.
        public var size: UInt64
        /// The node it lies on, when nodes are known.
        public var node: Int?
    }

    /// The memory asked for.
    public var guestMemory: UInt64
    /// The memory carved: `guestMemory` rounded up to the memory block size and the page size.
    public var carvedMemory: UInt64
    /// The guest page size.
    public var pageSize: UInt64
    /// The memory block size the ranges are aligned to.
    public var blockSize: UInt64
    /// All System RAM in `/proc/iomem`.
    public var systemRAM: UInt64
    /// The memory the host keeps for itself after the carve.
    public var hostKeeps: UInt64
    /// The soft-reserved ranges, ascending.
    public var ranges: [Range]
    /// `memmap=SIZE%OFFSET-1+0xefffffff` arguments, one per range (e820 retype to Soft Reserved: dax_hmem makes a
    /// dynamic dax region of each).
    public var memmapArguments: [String]
    /// `efi_fake_mem=SIZE@START:0x40000` (EFI_MEMORY_SP), when the host boots with EFI; `nil` otherwise.
    public var efiFakeMemArgument: String?
    /// `hugepagesz=`, `hugepages=` and `hugetlb_free_vmemmap=on` (HVO at boot): the HugeTLB alternative.
    public var hugetlbArguments: [String]
    /// The daxpool commands that adopt the soft-reserved carve after the reboot.
    public var adoptSoftReserved: [String]
    /// The daxpool commands that adopt the HugeTLB pool after the reboot.
    public var adoptHugeTLB: [String]
    /// Page metadata per TiB of guest memory: full (64 B per 4 KiB page).
    public var pageMetadataFullPerTebibyte: UInt64
    /// Page metadata per TiB with the plan's page size and vmemmap optimization.
    public var pageMetadataPerTebibyte: UInt64
    /// The difference: what the plan saves per TiB.
    public var pageMetadataSavedPerTebibyte: UInt64
    /// Whether HVO is on now (`/proc/sys/vm/hugetlb_optimize_vmemmap`).
    public var vmemmapOptimizedNow: Bool
    /// The HugeTLB pools now.
    public var hugePagePoolsNow: [HostMemoryFacts.HugePagePool]
    /// The carve arguments on the running kernel's command line.
    public var currentCarveArguments: [String]
    /// What is wrong with them.
    public var currentCarveProblems: [CarveProblem]
    /// Things to know (rounding, HVO off now, EFI absent, …).
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case guestMemory = "guest_memory"
        case carvedMemory = "carved_memory"
        case pageSize = "page_size"
        case blockSize = "block_size"
        case systemRAM = "system_ram"
        case hostKeeps = "host_keeps"
        case ranges
        case memmapArguments = "memmap_arguments"
        case efiFakeMemArgument = "efi_fake_mem_argument"
        case hugetlbArguments = "hugetlb_arguments"
        case adoptSoftReserved = "adopt_soft_reserved"
        case adoptHugeTLB = "adopt_hugetlb"
        case pageMetadataFullPerTebibyte = "page_metadata_full_per_tib"
        case pageMetadataPerTebibyte = "page_metadata_per_tib"
        case pageMetadataSavedPerTebibyte = "page_metadata_saved_per_tib"
        case vmemmapOptimizedNow = "vmemmap_optimized_now"
        case hugePagePoolsNow = "huge_page_pools_now"
        case currentCarveArguments = "current_carve_arguments"
        case currentCarveProblems = "current_carve_problems"
        case notes
    }
}

/// Why no plan could be made.
public enum CarvePlanError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `/proc/iomem` shows zeros: it was read without root.
    case addressesHidden
    /// The page size is neither 2 MiB nor 1 GiB.
    case unsupportedPageSize(UInt64)
    /// The memory is zero or not a whole number of pages.
    case notWholePages(memory: UInt64, pageSize: UInt64)
    /// The memory block size is not a power of two.
    case badBlockSize(UInt64)
    /// Not enough block-aligned System RAM above 4 GiB (on the node).
    case notEnoughMemory(requested: UInt64, available: UInt64, node: Int?)

    /// Why no plan could be made and what to do, for the CLI.
    public var description: String {
        switch self {
        case .addressesHidden:
            "/proc/iomem shows every address as 0: the kernel hides them from non-root readers; run as root"
        case .unsupportedPageSize(let size): "page size \(size) is not 2M or 1G"
        case .notWholePages(let memory, let pageSize):
            "guest memory \(memory) is not a positive whole number of \(CarvePlanner.sizeText(pageSize)) pages"
        case .badBlockSize(let size): "memory block size \(size) is not a power of two"
        case .notEnoughMemory(let requested, let available, let node):
            "\(CarvePlanner.sizeText(requested)) asked for\(node.map { " on node \($0)" } ?? ""), but only "
                + "\(CarvePlanner.sizeText(available)) of block-aligned System RAM above 4 GiB is free of the "
                + "kernel and firmware"
        }
    }
}
