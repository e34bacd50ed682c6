import DaxPoolCore
import Foundation
import Glibc
import Testing

@testable import DaxPoolLinux

/// HVO acts on a huge page when the kernel allocates it, so a region grown while HVO is off holds pages of both kinds:
/// its page metadata counts the grown pages at full cost, and a shrink (which cannot tell which pages the kernel
/// frees) never counts fewer unoptimized pages than there can be. The HVO setting is a file standing in for
/// `/proc/sys/vm/hugetlb_optimize_vmemmap` (the backend reads it there), so the host's setting is never touched; the
/// pages are the node's real pool, under the huge page test lock.
@Suite(
    "hugetlb resize and page metadata", .serialized, .timeLimit(.minutes(20)),
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason),
    .enabled(if: HugetlbResizeHost.givesPages, HugetlbResizeHost.reason))
struct HugetlbResizeMetadataTests {
    /// 32 KiB of vmemmap per 2 MiB page without HVO, 4 KiB with it.
    static let full: UInt64 = 32 << 10
    static let optimized: UInt64 = 4 << 10

    @Test("a grow while HVO is off counts its pages at full cost; a shrink keeps them counted while it can")
    func growWithHVOOff() throws {
        try HugetlbTestSupport.withPool { root in
            let setting = "\(root)/hugetlb_optimize_vmemmap"
            try "1\n".write(toFile: setting, atomically: false, encoding: .utf8)
            let backend = HugetlbBackend(scrubThreads: 1, vmemmapSysctlPath: setting)
            let region = try backend.createRegion(HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)))
            var current = region
            defer { try? backend.destroyRegion(current) }
            let made = backend.pageMetadata(for: region)
            #expect(made.vmemmapOptimized && made.unoptimizedMemory == .zero)
            #expect(made.bytes.rawValue == 4 * Self.optimized)

            try "0\n".write(toFile: setting, atomically: false, encoding: .utf8)
            current = try backend.resizeRegion(region, to: .mebibytes(24))
            let grown = backend.pageMetadata(for: current)
            #expect(grown.unoptimizedMemory == .mebibytes(16), "the 8 pages the grow reserved with HVO off")
            #expect(grown.bytes.rawValue == 4 * Self.optimized + 8 * Self.full, "\(grown)")
            #expect(try HugetlbResizeTests.record(root)?.unoptimizedPages == 8)

            // A shrink with HVO on again: the kernel may have freed optimized pages, so all 8 kept pages may be
            // unoptimized ones.
            try "1\n".write(toFile: setting, atomically: false, encoding: .utf8)
            current = try backend.resizeRegion(current, to: .mebibytes(16))
            let shrunk = backend.pageMetadata(for: current)
            #expect(shrunk.bytes.rawValue == 8 * Self.full, "never fewer than there can be: \(shrunk)")
            // A grow with HVO on adds optimized pages.
            current = try backend.resizeRegion(current, to: .mebibytes(20))
            let again = backend.pageMetadata(for: current)
            #expect(again.bytes.rawValue == 8 * Self.full + 2 * Self.optimized, "\(again)")

            try backend.destroyRegion(current)
        }
    }

    @Test("page metadata with an unoptimized part encodes it, and decodes to the same figures")
    func metadataCoding() throws {
        let metadata = PageMetadata(
            memory: .mebibytes(24), pageSize: .page2M, vmemmapOptimized: true, unoptimizedMemory: .mebibytes(16))
        let json = String(decoding: try JSONEncoder().encode(metadata), as: UTF8.self)
        #expect(json.contains("\"unoptimized_memory\":\(16 << 20)"), "\(json)")
        #expect(try JSONDecoder().decode(PageMetadata.self, from: Data(json.utf8)) == metadata)
        let plain = PageMetadata(memory: .mebibytes(24), pageSize: .page2M, vmemmapOptimized: true)
        #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("unoptimized"))
    }
}
