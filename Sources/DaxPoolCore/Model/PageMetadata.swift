/// What the host kernel spends on page metadata (`struct page`, the "memmap" or "vmemmap") for a span of memory,
/// and the same figure per TiB.
///
/// The kernel keeps one 64-byte `struct page` for every 4 KiB base page it manages: 1/64 of the memory, 16 GiB
/// per TiB. HugeTLB Vmemmap Optimization (HVO, `/proc/sys/vm/hugetlb_optimize_vmemmap`, Linux 5.18 and later in
/// this form) frees the vmemmap pages behind the tail `struct page`s of a HugeTLB page and keeps exactly one
/// page of them, mapped read-only for every tail:
///
/// - `mm/hugetlb_vmemmap.h`: `#define HUGETLB_VMEMMAP_RESERVE_SIZE PAGE_SIZE`;
/// - `mm/hugetlb_vmemmap.h`: `hugetlb_vmemmap_size(h) = pages_per_huge_page(h) * sizeof(struct page)` and
///   `hugetlb_vmemmap_optimizable_size(h) = hugetlb_vmemmap_size(h) - HUGETLB_VMEMMAP_RESERVE_SIZE`.
///
/// So a 2 MiB page has 512 × 64 B = 32 KiB of vmemmap, of which HVO frees 28 KiB and keeps 4 KiB; a 1 GiB page
/// has 16 MiB, of which HVO frees 16,380 KiB and keeps 4 KiB. The kernel prints the same figures at boot
/// ("HugeTLB: 28 KiB vmemmap can be freed for a 2.00 MiB page", "16380 KiB vmemmap can be freed for a 1.00 GiB
/// page"), and `/proc/vmstat` `nr_memmap_pages + nr_memmap_boot_pages` fell by exactly 7 pages per 2 MiB page and
/// 4095 pages per 1 GiB page on this project's machine (reference/limits.md section 4).
///
/// Per TiB: 16 GiB without HVO (any page size), 2 GiB with HVO on 2 MiB pages, 4 MiB with HVO on 1 GiB pages.
/// HVO applies only to HugeTLB pages, so `vmemmapOptimized` is ignored for 4 KiB pages, and it applies to a page
/// when the page is allocated: a region records whether HVO was on when its pages were reserved.
public struct PageMetadata: Hashable, Sendable, Codable {
    /// `sizeof(struct page)` on x86-64 and arm64.
    public static let structPageSize: UInt64 = 64
    /// The base page the kernel keeps one `struct page` for (`PAGE_SIZE`).
    public static let basePageSize: UInt64 = 4096
    /// What HVO keeps of each HugeTLB page's vmemmap (`HUGETLB_VMEMMAP_RESERVE_SIZE`, one base page).
    public static let vmemmapReserveSize: UInt64 = 4096
    /// One tebibyte, the unit of `bytesPerTebibyte`.
    public static let tebibyte: UInt64 = 1 << 40

    /// The memory described, rounded up to whole pages of `pageSize` (the kernel hands out whole pages).
    public let memory: ByteCount
    /// The page size the memory is allocated in (JSON `page_size`, bytes): 4 KiB, 2 MiB or 1 GiB.
    public let pageSize: Alignment
    /// Whether HVO was in effect when the pages were allocated (only meaningful for 2 MiB and 1 GiB pages).
    public let vmemmapOptimized: Bool
    /// The part of `memory` whose pages were allocated while HVO was off although `vmemmapOptimized` (a hugetlb
    /// region that grew while HVO was off): those pages keep their full vmemmap (JSON `unoptimized_memory`, omitted
    /// when zero). Zero when `vmemmapOptimized` is false: then all of `memory` is unoptimized.
    public let unoptimizedMemory: ByteCount

    /// - Parameters:
    ///   - memory: bytes of memory; a partial page counts as a whole page.
    ///   - pageSize: the page size the memory is allocated in (4K for tmpfs and anonymous memory).
    ///   - vmemmapOptimized: whether HVO was on when the huge pages were allocated.
    ///   - unoptimizedMemory: with `vmemmapOptimized`, the part of `memory` whose pages were allocated while HVO was
    ///     off (at most `memory`, in whole pages).
    public init(
        memory: ByteCount, pageSize: Alignment, vmemmapOptimized: Bool, unoptimizedMemory: ByteCount = .zero
    ) {
        let pageBytes = pageSize.rawValue
        let pages = memory.rawValue / pageBytes + (memory.rawValue % pageBytes == 0 ? 0 : 1)
        // Cannot overflow past 2^64 - pageBytes + 1 for a caller-supplied memory below 2^64; saturate to be safe.
        let (rounded, overflow) = pages.multipliedReportingOverflow(by: pageBytes)
        self.memory = ByteCount(overflow ? UInt64.max & ~(pageBytes - 1) : rounded)
        self.pageSize = pageSize
        self.vmemmapOptimized = vmemmapOptimized && pageSize > .page4K
        let unoptimizedPages = min(unoptimizedMemory.rawValue / pageBytes, self.memory.rawValue / pageBytes)
        self.unoptimizedMemory = self.vmemmapOptimized ? ByteCount(unoptimizedPages * pageBytes) : .zero
    }

    /// The number of `pageSize` pages in `memory`.
    public var pageCount: UInt64 { memory.rawValue / pageSize.rawValue }

    /// The vmemmap of one page of `pageSize` before any optimization: 64 B per 4 KiB base page.
    public var vmemmapBytesPerPage: UInt64 { pageSize.rawValue / Self.basePageSize * Self.structPageSize }

    /// The metadata the host keeps for one page of `pageSize`: all of its vmemmap, or with HVO one base page.
    public var bytesPerPage: UInt64 {
        vmemmapOptimized ? min(vmemmapBytesPerPage, Self.vmemmapReserveSize) : vmemmapBytesPerPage
    }

    /// The pages of `memory` whose metadata HVO optimized.
    var optimizedPageCount: UInt64 { pageCount - unoptimizedMemory.rawValue / pageSize.rawValue }

    /// The page-metadata bytes the host spends on `memory` (the pages of `unoptimizedMemory` at full cost).
    public var bytes: ByteCount {
        ByteCount(optimizedPageCount * bytesPerPage + (pageCount - optimizedPageCount) * vmemmapBytesPerPage)
    }

    /// The page-metadata bytes HVO frees for `memory` compared with plain 64 B per 4 KiB (zero without HVO).
    public var savedBytes: ByteCount { ByteCount(optimizedPageCount * (vmemmapBytesPerPage - bytesPerPage)) }

    /// The page-metadata bytes the host would spend on one TiB of memory in the same pages, allocated as
    /// `vmemmapOptimized` says.
    public var bytesPerTebibyte: ByteCount {
        ByteCount(Self.tebibyte / pageSize.rawValue * bytesPerPage)
    }

    enum CodingKeys: String, CodingKey {
        case memory, bytes
        case pageSize = "page_size"
        case vmemmapOptimized = "vmemmap_optimized"
        case bytesPerTebibyte = "bytes_per_tib"
        case unoptimizedMemory = "unoptimized_memory"
    }

    /// Decodes `memory`, `page_size`, `vmemmap_optimized` and `unoptimized_memory` and recomputes the rest, so derived figures in the JSON
    /// (`bytes`, `bytes_per_tib`) are never trusted.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            memory: try container.decode(ByteCount.self, forKey: .memory),
            pageSize: try container.decode(Alignment.self, forKey: .pageSize),
            vmemmapOptimized: try container.decode(Bool.self, forKey: .vmemmapOptimized),
            unoptimizedMemory: try container.decodeIfPresent(ByteCount.self, forKey: .unoptimizedMemory) ?? .zero
        )
    }

    /// Encodes `memory`, `page_size` and `vmemmap_optimized` with the derived `bytes` and `bytes_per_tib`, all byte
    /// counts as bare integers.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(memory, forKey: .memory)
        try container.encode(pageSize, forKey: .pageSize)
        try container.encode(vmemmapOptimized, forKey: .vmemmapOptimized)
        try container.encode(bytes, forKey: .bytes)
        try container.encode(bytesPerTebibyte, forKey: .bytesPerTebibyte)
        if unoptimizedMemory.rawValue > 0 { try container.encode(unoptimizedMemory, forKey: .unoptimizedMemory) }
    }
}
