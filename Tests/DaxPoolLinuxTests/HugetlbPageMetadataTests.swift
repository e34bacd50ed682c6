import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Testing

@Suite(
    "hugetlb page metadata against the kernel's own counters", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
    .enabled(if: HugetlbMemmapCounters.read() != nil, HugetlbMemmapCounters.missingReason),
    .enabled(if: HugetlbVmemmapOptimization.isEnabled() != nil, HugetlbMemmapCounters.noHVOReason)
)
struct HugetlbPageMetadataTests {
    let backend = HugetlbBackend(scrubThreads: 1)

    /// Reserves a region of 1 GiB of 2M pages with HVO `on` or off, and compares how far `nr_memmap_pages +
    /// nr_memmap_boot_pages` moved with the saving `PageMetadata` predicts (zero without HVO). The system-wide HVO
    /// setting is switched, and always put back as it was, only while this test holds the huge page test lock, so
    /// no other hugetlb test reserves pages meanwhile; everything under the lock is synchronous (no await).
    func check(hvo on: Bool) throws {
        let setting = HugetlbVmemmapOptimization.sysctlPath
        var last = ""
        var matched = false
        try HugetlbTestSupport.withPool { root in
            guard let original = HugetlbVmemmapOptimization.isEnabled() else {
                throw HugetlbTestError("\(setting) cannot be read")
            }
            if original != on { HugetlbMemmapCounters.write(on ? "1" : "0", to: setting) }
            defer {
                if HugetlbVmemmapOptimization.isEnabled() != original {
                    HugetlbMemmapCounters.write(original ? "1" : "0", to: setting)
                }
            }
            try #require(HugetlbVmemmapOptimization.isEnabled() == on, "cannot switch \(setting) to \(on ? 1 : 0)")
            // Other jobs may move the counters too: try a few times before calling a difference ours.
            for _ in 0..<3 where !matched {
                let request = HugetlbTestSupport.region("\(root)/region0", size: .gibibytes(1))
                let before = try #require(HugetlbMemmapCounters.read())
                let region = try backend.createRegion(request, vmemmapOptimization: .off)
                let during = try #require(HugetlbMemmapCounters.read())
                let metadata = backend.pageMetadata(for: region)
                try backend.destroyRegion(region)
                let after = try #require(HugetlbMemmapCounters.read())

                #expect(metadata.vmemmapOptimized == on)
                let predicted = -Int64(metadata.savedBytes.rawValue)
                let kernel = (during - before) * 4096
                let restored = (after - during) * 4096
                last = "kernel moved \(kernel) bytes on reserve and \(restored) on release, predicted \(predicted)"
                matched = abs(kernel - predicted) <= 4096 && abs(restored + predicted) <= 4096
            }
        }
        if !matched { Issue.record("nr_memmap does not match PageMetadata with HVO \(on ? "on" : "off"): \(last)") }
    }

    @Test("without HVO reserving 1 GiB of 2M pages leaves the memmap as it was, as PageMetadata says")
    func withoutHVO() throws {
        try check(hvo: false)
    }

    @Test(
        "with HVO reserving 1 GiB of 2M pages frees 14 MiB of memmap, as PageMetadata says (HVO switched on for the test)"
    )
    func withHVO() throws {
        try check(hvo: true)
    }
}

/// The kernel's memmap counters in `/proc/vmstat`, in 4 KiB pages.
enum HugetlbMemmapCounters {
    static let missingReason: Comment =
        "/proc/vmstat has no nr_memmap_pages / nr_memmap_boot_pages (Linux 6.11 and later)"
    static let noHVOReason: Comment =
        "/proc/sys/vm/hugetlb_optimize_vmemmap is absent: the kernel is built without CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP"

    /// `nr_memmap_pages + nr_memmap_boot_pages` (older kernels: `nr_memmap`), or `nil` when absent.
    static func read() -> Int64? {
        let text = String(decoding: Scratch.read(1 << 16, from: "/proc/vmstat"), as: UTF8.self)
        var total: Int64 = 0
        var found = false
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2,
                ["nr_memmap", "nr_memmap_pages", "nr_memmap_boot_pages"].contains(String(fields[0])),
                let value = Int64(fields[1])
            else { continue }
            total += value
            found = true
        }
        return found ? total : nil
    }

    static func write(_ value: String, to path: String) {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        _ = value.withCString { Glibc.write(descriptor, $0, strlen($0)) }
    }
}
