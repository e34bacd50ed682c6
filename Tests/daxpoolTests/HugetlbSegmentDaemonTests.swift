import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A hugetlb region grown while a device held its memory, through the real binary: its memory is two hugetlbfs
/// mounts, a device lies in one (a create larger than either mount's free memory is refused naming the largest that
/// fits), and a daemon restart, with the mounts in place or gone as after a reboot, gives every device its file at
/// the same path in the same mount.
@Suite("hugetlb segments through the daemon", .timeLimit(.minutes(20)), .serialized)
struct HugetlbSegmentDaemonTests {
    static let pool = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"

    /// Each device's id and path from `list`.
    static func paths(_ daemon: DaemonHarness) throws -> [String: String] {
        let listed = daemon.cli(["list"])
        try #require(listed.status == 0, "\(listed.stderr)")
        let devices = try #require(try listed.json() as? [[String: Any]], "\(listed.stdout)")
        var result: [String: String] = [:]
        for device in devices {
            if let id = device["chardev"] as? String ?? device["id"] as? String, let path = device["path"] as? String {
                result[id] = path
            }
        }
        return result
    }

    /// The hugetlbfs mounts at or under `path` with their `size=`.
    static func mounts(under path: String) -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let separator = fields.firstIndex(of: "-"), fields.count > separator + 3,
                fields[separator + 1] == "hugetlbfs"
            else { continue }
            let point = String(fields[4])
            guard point == path || point.hasPrefix(path + "/") else { continue }
            let size = fields[separator + 3].split(separator: ",").first { $0.hasPrefix("size=") }
            result[point] = size.map { String($0.dropFirst("size=".count)) } ?? ""
        }
        return result
    }

    @Test(
        "a grown region keeps a device in one mount, and restarts (mounts kept, and gone as after a reboot) keep paths",
        .enabled(if: geteuid() == 0, "needs root: hugetlb regions reserve huge pages and mount hugetlbfs"))
    func restartsKeepSegments() throws {
        try QemuGuestLab.withHugePageLock {
            let base = try String(contentsOfFile: Self.pool, encoding: .utf8)
            let daemon = try DaemonHarness()
            try daemon.start(defaultRegionSize: "0")
            let path = "\(daemon.root)/hugetlb/region0"
            defer {
                _ = daemon.cli(["destroy-device", "-f", "dax0.0"])
                _ = daemon.cli(["destroy-device", "-f", "dax0.1"])
                _ = daemon.cli(["destroy-region", "0"])
                daemon.stop()
                QemuGuestLab.unmountAll(under: daemon.root)
            }
            let made = daemon.cli([
                "create-region", "--backend", "hugetlb", "--page-size", "2M", "--size", "8M", "--path", path,
                "--hvo", "off",
            ])
            try #require(made.status == 0, "\(made.stderr)")
            try #require(daemon.cli(["create-device", "-r", "0", "-s", "6M"]).status == 0)
            let grown = daemon.cli(["resize-region", "-r", "0", "24M"])
            try #require(grown.status == 0, "\(grown.stderr)")
            #expect(Self.mounts(under: path) == [path: "\(8 << 20)", "\(path)/.segment1": "\(16 << 20)"])

            // 18 MiB are free, but no mount has more than 16 MiB of them: refused, naming a size that works.
            let refused = daemon.cli(["create-device", "-r", "0", "-s", "18M"])
            #expect(refused.status != 0)
            let error = try refused.error()
            #expect(error["code"] as? String == "insufficient_space", "\(refused.stderr)")
            let message = error["message"] as? String ?? ""
            #expect(message.contains("ask for at most \(16 << 20) bytes") && message.contains("2 parts"), "\(message)")
            let second = daemon.cli(["create-device", "-r", "0", "-s", "16M"])
            try #require(second.status == 0, "\(second.stderr)")
            let before = try Self.paths(daemon)
            #expect(before["dax0.0"] == "\(path)/dax0.0" && before["dax0.1"] == "\(path)/.segment1/dax0.1", "\(before)")
            let region = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]]).first
            #expect(region?["available_size"] as? Int == 2 << 20, "\(String(describing: region))")
            #expect(region?["segments"] as? [Int] == [8 << 20, 16 << 20], "list -R shows the region's mounts")

            // A plain restart: the mounts stay.
            daemon.stop()
            try daemon.start(defaultRegionSize: "0")
            #expect(try Self.paths(daemon) == before, "a restart keeps every device's path")
            #expect(Self.mounts(under: path) == [path: "\(8 << 20)", "\(path)/.segment1": "\(16 << 20)"])

            // As after a reboot: the daemon stops and the region's mounts go away (their files with them).
            daemon.stop()
            DaemonHarness.unmountAll(under: path)
            try #require(Self.mounts(under: path).isEmpty)
            try daemon.start(defaultRegionSize: "0")
            #expect(Self.mounts(under: path) == [path: "\(8 << 20)", "\(path)/.segment1": "\(16 << 20)"])
            #expect(try Self.paths(daemon) == before, "every device's file is back at its path")
            for (_, file) in before {
                #expect(FileManager.default.fileExists(atPath: file), "\(file)")
            }

            #expect(daemon.cli(["destroy-device", "-f", "dax0.1"]).status == 0)
            #expect(daemon.cli(["destroy-device", "-f", "dax0.0"]).status == 0)
            // The destroyed devices' memory is zeroed in the background first.
            var destroyed = daemon.cli(["destroy-region", "0"])
            for _ in 0..<100 where destroyed.status != 0 {
                usleep(100_000)
                destroyed = daemon.cli(["destroy-region", "0"])
            }
            #expect(destroyed.status == 0, "\(destroyed.stderr)")
            #expect(try String(contentsOfFile: Self.pool, encoding: .utf8) == base, "exactly the region's pages back")
        }
    }
}
