import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `daxpool create-region --backend hugetlb --hvo on|off`, through the real binary: the value is read strictly,
/// and with HVO off on the host a hugetlb region needs one of the two (the daemon's refusal names both costs and
/// both flags; `--hvo off` is accepted and its figure is the full one).
@Suite("create-region --hvo", .timeLimit(.minutes(20)), .serialized)
struct HugetlbHVOCommandTests {
    static let setting = "/proc/sys/vm/hugetlb_optimize_vmemmap"

    @Test("--hvo takes only on or off, and only with --backend hugetlb")
    func strictFlag() throws {
        let harness = try DaemonHarness()
        let bad = harness.cli(["create-region", "--backend", "hugetlb", "-s", "64M", "--hvo", "yes"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("'on'") && bad.stderr.contains("'off'"), "\(bad.stderr)")
        let upper = harness.cli(["create-region", "--backend", "hugetlb", "-s", "64M", "--hvo", "ON"])
        #expect(upper.status != 0, "\(upper.stdout)")
        let shm = harness.cli(["create-region", "--backend", "shm", "-s", "64M", "--hvo", "on"])
        #expect(shm.status != 0)
        #expect(shm.stderr.contains("--hvo is only for --backend hugetlb"), "\(shm.stderr)")
    }

    @Test(
        "with HVO off a hugetlb region without --hvo is refused naming both costs and flags; --hvo off makes it",
        .enabled(if: geteuid() == 0, "needs root: hugetlb regions reserve huge pages and mount hugetlbfs"),
        .enabled(
            if: FileManager.default.fileExists(atPath: Self.setting),
            "the kernel has no /proc/sys/vm/hugetlb_optimize_vmemmap (no HVO)"))
    func refusedThenAccepted() throws {
        try QemuGuestLab.withHugePageLock {
            // The setting is system-wide: turned off for the test when it is on, and put back as it was.
            let original = try String(contentsOfFile: Self.setting, encoding: .utf8)
            defer { try? original.write(toFile: Self.setting, atomically: false, encoding: .utf8) }
            try "0\n".write(toFile: Self.setting, atomically: false, encoding: .utf8)
            let daemon = try DaemonHarness()
            try daemon.start(defaultRegionSize: "0")
            defer {
                daemon.stop()
                QemuGuestLab.unmountAll(under: daemon.root)
            }
            let arguments = [
                "create-region", "--backend", "hugetlb", "--page-size", "2M", "--size", "8M",
                "--path", "\(daemon.root)/hugetlb/region0",
            ]
            let refused = daemon.cli(arguments)
            #expect(refused.status != 0)
            let error = try refused.error()
            #expect(error["code"] as? String == "hvo_off", "\(refused.stderr)")
            #expect(error["status"] as? Int == 409)
            let message = error["message"] as? String ?? ""
            #expect(message.contains("8 MiB of 2M pages costs 128 KiB of page metadata"), "\(message)")
            #expect(message.contains("16 KiB (2 GiB per TiB) with it"))
            #expect(message.contains("--hvo on") && message.contains("--hvo off") && message.contains("system-wide"))
            #expect(!FileManager.default.fileExists(atPath: "\(daemon.root)/hugetlb/region0"), "nothing was made")

            let accepted = daemon.cli(arguments + ["--hvo", "off"])
            try #require(accepted.status == 0, "\(accepted.stderr)")
            defer { _ = daemon.cli(["destroy-region", "0"]) }
            let region = try #require(try accepted.json() as? [String: Any])
            let metadata = try #require(region["page_metadata"] as? [String: Any], "\(accepted.stdout)")
            #expect(metadata["vmemmap_optimized"] as? Bool == false)
            #expect(metadata["bytes"] as? Int == 128 << 10, "4 pages × 512 struct pages × 64 B")
            #expect(try String(contentsOfFile: Self.setting, encoding: .utf8) == "0\n", "--hvo off left HVO off")
        }
    }
}
