/// Plans a boot-time carve of guest memory: soft-reserved `memmap=` ranges inside System RAM, aligned to the
/// memory block size and taken from the top of RAM above 4 GiB (below 4 GiB firmware tables and the PCI hole make
/// `memmap=` fragile), or a HugeTLB pool with vmemmap optimization. Pure: the CLI reads the files.
public enum CarvePlanner {
    /// The lowest address a planned range may start at.
    public static let lowestStart: UInt64 = 4 << 30

    /// Plans `request` on the host `facts` describe.
    public static func plan(_ request: CarveRequest, on facts: HostMemoryFacts) throws(CarvePlanError) -> CarvePlan {
        guard !facts.map.isRedacted else { throw .addressesHidden }
        let pageSize = request.pageSize.rawValue
        guard request.pageSize == .page2M || request.pageSize == .page1G else { throw .unsupportedPageSize(pageSize) }
        let memory = request.guestMemory.rawValue
        guard memory > 0, memory % pageSize == 0 else { throw .notWholePages(memory: memory, pageSize: pageSize) }
        let blockSize = facts.blockSize
        guard blockSize > 0, blockSize & (blockSize - 1) == 0 else { throw .badBlockSize(blockSize) }
        let alignment = max(blockSize, pageSize)
        var notes: [String] = []

        let spans = freeSpans(in: facts.map, alignment: alignment)
        let nodes = request.perNode && !facts.nodes.isEmpty ? facts.nodes.sorted { $0.id < $1.id } : []
        var ranges: [CarvePlan.Range] = []
        var carved: UInt64 = 0
        if nodes.isEmpty {
            let size = roundUp(memory, to: alignment)
            ranges = try take(size, from: spans, node: nil)
            carved = size
        } else {
            let share = roundUp((memory + UInt64(nodes.count) - 1) / UInt64(nodes.count), to: alignment)
            for node in nodes {
                let nodeSpans = intersect(spans, facts.ranges(of: node), alignment: alignment)
                ranges += try take(share, from: nodeSpans, node: node.id)
                carved += share
            }
        }
        ranges.sort { $0.start < $1.start }
        if carved != memory {
            notes.append(
                "\(sizeText(memory)) rounded up to \(sizeText(carved)): ranges are whole \(sizeText(alignment)) "
                    + "memory blocks\(nodes.isEmpty ? "" : " on each of \(nodes.count) nodes")")
        }
        let systemRAM = facts.map.systemRAM.reduce(0) { $0 + $1.size }

        let memmap = ranges.map { "memmap=\(sizeText($0.size))%\(sizeText($0.start))-1+0xefffffff" }
        let efi =
            facts.bootsWithEFI
            ? "efi_fake_mem="
                + ranges.map { "\(sizeText($0.size))@\(sizeText($0.start)):0x40000" }.joined(
                    separator: ",") : nil
        if !facts.bootsWithEFI {
            notes.append("the host does not boot with EFI (no /sys/firmware/efi): efi_fake_mem= is not offered")
        }
        let pages = carved / pageSize
        let pageText = sizeText(pageSize)
        var hugetlb = ["hugepagesz=\(pageText)"]
        if nodes.isEmpty {
            hugetlb.append("hugepages=\(pages)")
        } else {
            let perNode = pages / UInt64(nodes.count)
            hugetlb.append("hugepages=" + nodes.map { "\($0.id):\(perNode)" }.joined(separator: ","))
        }
        // HVO's boot parameter (`core_param(hugetlb_free_vmemmap, ...)` in mm/hugetlb_vmemmap.c); the sysctl is
        // vm.hugetlb_optimize_vmemmap, which the kernel does not take on its command line.
        hugetlb.append("hugetlb_free_vmemmap=on")
        if !facts.vmemmapOptimized {
            notes.append(
                "HugeTLB vmemmap optimization is off now (vm.hugetlb_optimize_vmemmap=0): the HugeTLB carve turns it "
                    + "on at boot")
        }

        let adoptSoftReserved =
            ranges.indices.map { index in
                "daxpool create-region --backend devdax --dax-region \(index)"
            }
        let adoptHugeTLB: [String] =
            nodes.isEmpty
            ? ["daxpool create-region --backend hugetlb --page-size \(pageText) -s \(sizeText(carved))"]
            : nodes.map {
                "daxpool create-region --backend hugetlb --page-size \(pageText) -s \(sizeText(carved / UInt64(nodes.count))) --node \($0.id)"
            }
        let full = PageMetadata(memory: .zero, pageSize: .page4K, vmemmapOptimized: false).bytesPerTebibyte.rawValue
        let planned = PageMetadata(memory: .zero, pageSize: request.pageSize, vmemmapOptimized: true)
            .bytesPerTebibyte.rawValue
        let current = facts.commandLine.carve
        return CarvePlan(
            guestMemory: memory, carvedMemory: carved, pageSize: pageSize, blockSize: blockSize,
            systemRAM: systemRAM, hostKeeps: systemRAM > carved ? systemRAM - carved : 0, ranges: ranges,
            memmapArguments: memmap, efiFakeMemArgument: efi, hugetlbArguments: hugetlb,
            adoptSoftReserved: adoptSoftReserved, adoptHugeTLB: adoptHugeTLB,
            pageMetadataFullPerTebibyte: full, pageMetadataPerTebibyte: planned,
            pageMetadataSavedPerTebibyte: full - planned, vmemmapOptimizedNow: facts.vmemmapOptimized,
            hugePagePoolsNow: facts.hugePagePools, currentCarveArguments: current.arguments,
            currentCarveProblems: CarveValidator.validate(
                current, against: facts.map, blockSize: blockSize, applied: true),
            notes: notes)
    }

    /// The `alignment`-aligned parts of top-level System RAM above `lowestStart` that hold no nested resource (the
    /// kernel image, crash kernel, …), ascending, as `start..<end`.
    static func freeSpans(in map: IOMemoryMap, alignment: UInt64) -> [(start: UInt64, end: UInt64)] {
        var result: [(start: UInt64, end: UInt64)] = []
        for (index, entry) in map.entries.enumerated() where entry.depth == 0 && entry.name == "System RAM" {
            var pieces: [(start: UInt64, end: UInt64)] = [(max(entry.start, lowestStart), entry.end &+ 1)]
            for child in map.descendants(of: index) {
                pieces = pieces.flatMap { piece -> [(start: UInt64, end: UInt64)] in
                    guard child.start < piece.end, child.end >= piece.start else { return [piece] }
                    return [(piece.start, child.start), (child.end &+ 1, piece.end)].filter { $0.start < $0.end }
                }
            }
            for piece in pieces {
                let start = roundUp(piece.start, to: alignment)
                let end = piece.end / alignment * alignment
                if start < end { result.append((start, end)) }
            }
        }
        return result.sorted { $0.start < $1.start }
    }

    /// The aligned parts of `spans` inside `ranges`.
    static func intersect(
        _ spans: [(start: UInt64, end: UInt64)], _ ranges: [(start: UInt64, end: UInt64)], alignment: UInt64
    ) -> [(start: UInt64, end: UInt64)] {
        var result: [(start: UInt64, end: UInt64)] = []
        for span in spans {
            for range in ranges {
                let start = roundUp(max(span.start, range.start), to: alignment)
                let end = min(span.end, range.end) / alignment * alignment
                if start < end { result.append((start, end)) }
            }
        }
        return result.sorted { $0.start < $1.start }
    }

    /// `size` bytes from the top of `spans` down, as ranges.
    static func take(
        _ size: UInt64, from spans: [(start: UInt64, end: UInt64)], node: Int?
    ) throws(CarvePlanError) -> [CarvePlan.Range] {
        let available = spans.reduce(0) { $0 + ($1.end - $1.start) }
        guard available >= size else { throw .notEnoughMemory(requested: size, available: available, node: node) }
        var remaining = size
        var ranges: [CarvePlan.Range] = []
        for span in spans.reversed() where remaining > 0 {
            let length = min(remaining, span.end - span.start)
            ranges.append(CarvePlan.Range(start: span.end - length, size: length, node: node))
            remaining -= length
        }
        return ranges
    }

    static func roundUp(_ value: UInt64, to alignment: UInt64) -> UInt64 {
        (value + alignment - 1) / alignment * alignment
    }

    /// A size or address as `memparse` reads it: `5G`, `512M`, `64K`, or `0x…`.
    public static func sizeText(_ value: UInt64) -> String {
        if value != 0, value % (1 << 30) == 0 { return "\(value >> 30)G" }
        if value != 0, value % (1 << 20) == 0 { return "\(value >> 20)M" }
        if value != 0, value % (1 << 10) == 0 { return "\(value >> 10)K" }
        return value == 0 ? "0" : "0x" + String(value, radix: 16)
    }
}
