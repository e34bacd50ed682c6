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

    static let needsRoot: Comment = "needs root: hugetlb regions reserve huge pages and mount hugetlbfs"
    static let needsHVO: Comment = "the kernel has no /proc/sys/vm/hugetlb_optimize_vmemmap (no HVO)"
    static var hasHVO: Bool { FileManager.default.fileExists(atPath: setting) }

    @Test(
        "with HVO off a hugetlb region without --hvo is refused naming both costs and flags; --hvo off makes it",
        .enabled(if: geteuid() == 0, needsRoot), .enabled(if: hasHVO, needsHVO))
    func refusedThenAccepted() throws {
        try Self.withHVOOff { daemon, arguments in
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
            #expect(try Self.readSetting() == "0\n", "a refusal leaves HVO off")

            let accepted = daemon.cli(arguments + ["--hvo", "off"])
            try #require(accepted.status == 0, "\(accepted.stderr)")
            defer { _ = daemon.cli(["destroy-region", "0"]) }
            let region = try #require(try accepted.json() as? [String: Any])
            let metadata = try #require(region["page_metadata"] as? [String: Any], "\(accepted.stdout)")
            #expect(metadata["vmemmap_optimized"] as? Bool == false)
            #expect(metadata["bytes"] as? Int == 128 << 10, "4 pages × 512 struct pages × 64 B")
            #expect(try Self.readSetting() == "0\n", "--hvo off left HVO off")
        }
    }

    @Test(
        "with HVO off, --hvo on turns the host's real setting on and the region's figure is the optimized one",
        .enabled(if: geteuid() == 0, needsRoot), .enabled(if: hasHVO, needsHVO))
    func turnedOn() throws {
        try Self.withHVOOff { daemon, arguments in
            let accepted = daemon.cli(arguments + ["--hvo", "on"])
            try #require(accepted.status == 0, "\(accepted.stderr)")
            #expect(try Self.readSetting() == "1\n", "\(Self.setting) reads 1")
            let region = try #require(try accepted.json() as? [String: Any])
            let metadata = try #require(region["page_metadata"] as? [String: Any], "\(accepted.stdout)")
            #expect(metadata["vmemmap_optimized"] as? Bool == true)
            #expect(metadata["bytes"] as? Int == 16 << 10, "4 pages × one 4 KiB vmemmap page each")
            let listed = daemon.cli(["list", "-R"])
            try #require(listed.status == 0, "\(listed.stderr)")
            let rows = try #require(try listed.json() as? [[String: Any]], "\(listed.stdout)")
            let row = try #require(rows.first { $0["id"] as? Int == 0 }, "\(listed.stdout)")
            let listedMetadata = try #require(row["page_metadata"] as? [String: Any], "\(listed.stdout)")
            #expect(
                listedMetadata["vmemmap_optimized"] as? Bool == true && listedMetadata["bytes"] as? Int == 16 << 10,
                "list -R shows the same figure: \(listedMetadata)")
            let destroyed = daemon.cli(["destroy-region", "0"])
            #expect(destroyed.status == 0, "\(destroyed.stderr)")
        }
    }

    static func readSetting() throws -> String { try String(contentsOfFile: setting, encoding: .utf8) }

    /// Runs `body` with the host's HVO setting switched off (it is system-wide: put back as it was afterwards,
    /// whatever happens), under the huge page lock, with a daemon that has no default region and the arguments of
    /// an 8 MiB hugetlb create-region of 2M pages.
    static func withHVOOff(_ body: (DaemonHarness, [String]) throws -> Void) throws {
        try QemuGuestLab.withHugePageLock {
            let original = try readSetting()
            defer { try? original.write(toFile: setting, atomically: false, encoding: .utf8) }
            try "0\n".write(toFile: setting, atomically: false, encoding: .utf8)
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
            try body(daemon, arguments)
        }
    }
}
