import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Glibc
import Synchronization
import SystemPackage
import Testing

/// A hugetlb region never pays the full page metadata by accident: the real backend, with a file standing in for
/// `/proc/sys/vm/hugetlb_optimize_vmemmap` (so the host's setting is not touched), refuses while HVO is off unless
/// the creator says `--hvo on` (written before any page is reserved) or `--hvo off`. With the real setting, through
/// the real binary, `HugetlbHVOCommandTests` covers the same.
@Suite(
    "hugetlb regions and HugeTLB Vmemmap Optimization (real backend)", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason))
struct HugetlbHVOLinuxTests {
    /// Runs `body` with a file holding `value` (or no file when `nil`) standing in for the HVO setting.
    func withSetting(_ value: String?, _ body: (String) throws -> Void) throws {
        let directory = try Scratch.makeDirectory(under: "/tmp")
        defer { Scratch.remove(directory) }
        let path = "\(directory)/hugetlb_optimize_vmemmap"
        if let value { try Data(value.utf8).write(to: URL(fileURLWithPath: path)) }
        try body(path)
    }

    static func setting(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "missing").trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    @Test("with HVO off and no --hvo, a region is refused as hvo_off before anything is made, naming both costs")
    func refusedWithoutChoice() throws {
        try withSetting("0\n") { setting in
            try HugetlbTestSupport.withPool { root in
                let pages = HugetlbTestSupport.count(.page2M)
                let backend = HugetlbBackend(vmemmapSysctlPath: setting)
                let request = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8))
                let refusal = try #require(throws: BackendRefusal.self) { try backend.createRegion(request) }
                #expect(refusal.reason == .vmemmapOptimizationOff)
                // 8 MiB of 2M pages: 4 pages × 32 KiB without HVO, 4 × 4 KiB with it.
                #expect(refusal.message.contains("costs 128 KiB of page metadata"), "\(refusal)")
                #expect(refusal.message.contains("16 GiB per TiB"))
                #expect(refusal.message.contains("16 KiB (2 GiB per TiB) with it"))
                #expect(refusal.message.contains("--hvo on") && refusal.message.contains("--hvo off"))
                #expect(refusal.message.contains("system-wide"))
                #expect(!Scratch.exists("\(root)/region0") && !Scratch.exists("\(root)/region0.hugetlb.json"))
                #expect(HugetlbTestSupport.count(.page2M) == pages, "no page was reserved")
                #expect(Self.setting(setting) == "0", "the setting is untouched")
            }
        }
    }

    @Test("without the HVO setting, --hvo on and no --hvo are refused as hvo_unavailable; --hvo off is not")
    func unavailable() throws {
        try withSetting(nil) { setting in
            try HugetlbTestSupport.withPool { root in
                let backend = HugetlbBackend(vmemmapSysctlPath: setting)
                let request = HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(4))
                for choice in [nil, VmemmapOptimizationChoice.on] {
                    let refusal = try #require(throws: BackendRefusal.self) {
                        try backend.createRegion(request, vmemmapOptimization: choice)
                    }
                    #expect(refusal.reason == .vmemmapOptimizationUnavailable, "\(String(describing: choice))")
                    #expect(refusal.message.contains("no HugeTLB Vmemmap Optimization"), "\(refusal)")
                    #expect(refusal.message.contains("--hvo off"))
                    #expect(refusal.message.hasPrefix("--hvo on cannot be done") == (choice == .on))
                }
                #expect(!Scratch.exists("\(root)/region0"))
                let region = try backend.createRegion(request, vmemmapOptimization: .off)
                defer { try? backend.destroyRegion(region) }
                #expect(backend.pageMetadata(for: region).vmemmapOptimized == false)
            }
        }
    }

    @Test("--hvo off reserves the pages with HVO still off, and the region's figure is the unoptimized one")
    func acceptedOff() throws {
        try withSetting("0\n") { setting in
            try HugetlbTestSupport.withPool { root in
                let backend = HugetlbBackend(vmemmapSysctlPath: setting)
                let region = try backend.createRegion(
                    HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .off)
                defer { try? backend.destroyRegion(region) }
                #expect(Self.setting(setting) == "0", "--hvo off leaves the setting alone")
                let record = try #require(try HugetlbRegionRecord.load(FilePath("\(root)/region0.hugetlb.json")))
                #expect(!record.vmemmapOptimized)
                let metadata = backend.pageMetadata(for: region)
                #expect(!metadata.vmemmapOptimized)
                #expect(metadata.bytes == .kibibytes(128), "4 pages × 512 struct pages × 64 B")
                // Turning HVO on later does not change pages already reserved, nor the figure.
                try Data("1\n".utf8).write(to: URL(fileURLWithPath: setting))
                #expect(backend.pageMetadata(for: region).bytes == .kibibytes(128))
            }
        }
    }

    @Test("--hvo on writes 1 to the setting before any page is reserved, and the region's figure is the optimized one")
    func turnedOnFirst() throws {
        try withSetting("0\n") { setting in
            try HugetlbTestSupport.withPool { root in
                let pages = SettingWitnessingPages(setting: setting)
                let backend = HugetlbBackend(pages: pages, vmemmapSysctlPath: setting)
                let region = try backend.createRegion(
                    HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(8)), vmemmapOptimization: .on)
                defer { try? backend.destroyRegion(region) }
                #expect(Self.setting(setting) == "1")
                #expect(!pages.seen.isEmpty && pages.seen.allSatisfy { $0 == "1" }, "\(pages.seen)")
                #expect(
                    try HugetlbRegionRecord.load(FilePath("\(root)/region0.hugetlb.json"))?.vmemmapOptimized == true)
                let metadata = backend.pageMetadata(for: region)
                #expect(metadata.vmemmapOptimized && metadata.bytes == .kibibytes(16), "4 pages × 4 KiB")
            }
        }
    }

    @Test("with HVO on no --hvo is needed, and the setting is not written")
    func alreadyOn() throws {
        try withSetting("1\n") { setting in
            try HugetlbTestSupport.withPool { root in
                let backend = HugetlbBackend(vmemmapSysctlPath: setting)
                let before = try FileManager.default.attributesOfItem(atPath: setting)[.modificationDate] as? Date
                let region = try backend.createRegion(HugetlbTestSupport.region("\(root)/region0", size: .mebibytes(4)))
                defer { try? backend.destroyRegion(region) }
                #expect(backend.pageMetadata(for: region).vmemmapOptimized)
                #expect(try FileManager.default.attributesOfItem(atPath: setting)[.modificationDate] as? Date == before)
            }
        }
    }
}

/// The real kernel's huge page pools, remembering what the HVO setting file held each time a page count was written.
final class SettingWitnessingPages: HugetlbPageCounter, Sendable {
    let real = HugetlbSysfsPageCounter()
    let setting: String
    private let witnessed = Mutex<[String]>([])

    init(setting: String) { self.setting = setting }

    var seen: [String] { witnessed.withLock { $0 } }

    func count(node: Int, pageSize: Alignment) throws(BackendError) -> Int {
        try real.count(node: node, pageSize: pageSize)
    }

    func setCount(_ count: Int, node: Int, pageSize: Alignment) throws(BackendError) {
        let value = HugetlbHVOLinuxTests.setting(setting)
        witnessed.withLock { $0.append(value) }
        try real.setCount(count, node: node, pageSize: pageSize)
    }
}
