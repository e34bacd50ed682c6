import DaxPoolCore
import DaxPoolLinux

/// Page-metadata rows: what the host kernel spends on `struct page`s per TiB of device memory, per backend, against
/// the 64 B per 4 KiB page it spends on ordinary memory.
enum MetadataSection {
    static let tebibyte = ByteCount(1 << 40)

    static func run() -> [Row] {
        let baseline = Double(PageMetadata(memory: tebibyte, pageSize: .page4K, vmemmapOptimized: false).bytes.rawValue)
        let baselineText = "64 B per 4 KiB page: " + formatBytes(baseline) + "/TiB"
        let hvoNow = HugetlbVmemmapOptimization.isEnabled()
        let hvoText = hvoNow.map { $0 ? "on" : "off" } ?? "unknown"
        var rows: [Row] = []

        func add(_ name: String, _ bytes: Double, target: Bool, note: String = "") {
            rows.append(
                Row(
                    section: "metadata",
                    name: "page metadata per TiB, " + name,
                    daxpool: formatBytes(bytes) + "/TiB",
                    baseline: baselineText,
                    ratio: bytes == 0 ? "0" : formatRatio(bytes / baseline),
                    target: target ? "≤ 8 MiB/TiB (1G pages)" : "—",
                    verdict: target ? Verdict.atMost(bytes, Double(8 << 20)) : "measured (no target)",
                    metrics: ["bytes_per_tib": bytes, "baseline_bytes_per_tib": baseline],
                    note: note
                )
            )
        }

        add(
            "shm (tmpfs, 4K pages)", baseline, target: false,
            note: "Page-metadata rows come from `PageMetadata` (DaxPoolCore), the same accounting the daemon reports: "
                + "64 B of `struct page` per 4 KiB base page, and with HugeTLB Vmemmap Optimization (HVO) one 4 KiB "
                + "vmemmap page kept per huge page (`HUGETLB_VMEMMAP_RESERVE_SIZE`). The hugetlb backend records HVO "
                + "per region when it reserves the pages; on this machine `hugetlb_optimize_vmemmap` is \(hvoText) "
                + "now. devdax rows are computed here (`PageMetadata` does not model them yet): device-dax with "
                + "compound pages (Linux 5.19+) keeps two vmemmap pages per compound page "
                + "(`mm/sparse-vmemmap.c`, `VMEMMAP_RESERVE_NR`), and 64 B per 4 KiB page at 4K alignment."
        )
        for pageSize in [Alignment.page2M, .page1G] {
            let region = RegionConfig(
                id: 0, backend: .hugetlb, size: tebibyte, align: .page1G, pageSize: pageSize,
                path: "/nonexistent/daxpool-bench-region")
            let asConfigured = Double(HugetlbBackend(logger: quietLogger).pageMetadata(for: region).bytes.rawValue)
            add("hugetlb \(pageSize), HVO as configured here (\(hvoText))", asConfigured, target: pageSize == .page1G)
            let optimized = Double(
                PageMetadata(memory: tebibyte, pageSize: pageSize, vmemmapOptimized: true).bytes.rawValue)
            add("hugetlb \(pageSize) with HVO on", optimized, target: pageSize == .page1G)
        }
        for align in Alignment.all {
            let pages = Double(tebibyte.rawValue / align.rawValue)
            let perPage = align == .page4K ? 64.0 : 2 * 4096.0
            add(
                "devdax, align \(align)\(align == .page4K ? "" : " (compound pages)")", pages * perPage,
                target: align == .page1G)
        }
        add("sim (ranges only, no memory)", 0, target: false)
        return rows
    }
}
