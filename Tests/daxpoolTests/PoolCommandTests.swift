import Foundation
import Testing

/// A region's pool of ready memory through the daemon: `create-region --pool`, `set-pool`, `list -R`, and a
/// `create-device` that takes a ready file instead of allocating.
@Suite("pool commands", .timeLimit(.minutes(20)), .serialized)
struct PoolCommandTests {
    /// The region `id` from `list -R`.
    static func region(_ daemon: DaemonHarness, _ id: Int) throws -> [String: Any] {
        let result = daemon.cli(["list", "-R", "-r", "\(id)"])
        guard result.status == 0, let regions = try result.json() as? [[String: Any]], let region = regions.first
        else { throw HarnessError("list -R -r \(id): \(result.stderr)") }
        return region
    }

    /// The region's `pool` object, or an empty one.
    static func pool(_ daemon: DaemonHarness, _ id: Int) throws -> [String: Any] {
        try region(daemon, id)["pool"] as? [String: Any] ?? [:]
    }

    /// Polls until the region's ready files are `sizes` (the fill runs in the background); fails after 60 s.
    static func waitForReady(_ daemon: DaemonHarness, _ id: Int, _ sizes: [Int]) throws {
        for _ in 0..<600 {
            if try pool(daemon, id)["ready"] as? [Int] == sizes { return }
            usleep(100_000)
        }
        throw HarnessError("region \(id)'s pool never held \(sizes): \(try pool(daemon, id))")
    }

    /// The inodes of the ready files in `directory/.pool`.
    static func readyInodes(_ directory: String) -> Set<UInt64> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/.pool")) ?? []
        return Set(
            names.filter { $0.hasPrefix("clean.") }.compactMap { name in
                var info = stat()
                return lstat("\(directory)/.pool/\(name)", &info) == 0 ? UInt64(info.st_ino) : nil
            })
    }

    @Test("create-region --pool fills ready files; a device of such a size takes one; the pool survives a restart")
    func poolLifecycle() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "0")
        defer { daemon.stop() }
        let created = daemon.cli(["create-region", "--backend", "shm", "-s", "64M", "--pool", "8Mx2,16M"])
        #expect(created.status == 0, "\(created.stderr)")
        let target = [8 << 20, 8 << 20, 16 << 20]
        #expect(try Self.pool(daemon, 0)["target"] as? [Int] == target)
        try Self.waitForReady(daemon, 0, target)
        #expect(try Self.pool(daemon, 0)["ready_bytes"] as? Int == 32 << 20)
        let path = try #require(try Self.region(daemon, 0)["path"] as? String)
        let inodes = Self.readyInodes(path)
        #expect(inodes.count == 3)

        let device = daemon.cli(["create-device", "-r", "0", "-s", "16M", "--progress", "none"])
        #expect(device.status == 0, "\(device.stderr)")
        let devicePath = try #require((try device.json() as? [[String: Any]])?.first?["path"] as? String)
        var info = stat()
        #expect(lstat(devicePath, &info) == 0)
        #expect(inodes.contains(UInt64(info.st_ino)), "the device is a ready file renamed into place")
        #expect(info.st_size == 16 << 20 && info.st_mode & 0o777 == 0o600)
        try Self.waitForReady(daemon, 0, target)

        let progress = try ProgressCommandTests.lines(daemon.cli(["progress"]).stdout)
        let fills = progress.filter { $0["kind"] as? String == "fill" }
        #expect(!fills.isEmpty && fills.allSatisfy { $0["device"] as? String == "region0.pool" })
        #expect(fills.contains { $0["state"] as? String == "finished" && $0["done"] as? Int == 32 << 20 })

        daemon.stop()
        try daemon.start(defaultRegionSize: "0")
        #expect(try Self.pool(daemon, 0)["target"] as? [Int] == target, "the pool is part of the region's config")
        #expect(try Self.pool(daemon, 0)["ready"] as? [Int] == target, "ready files on tmpfs stay ready")

        let cleared = daemon.cli(["set-pool", "-r", "0", ""])
        #expect(cleared.status == 0, "\(cleared.stderr)")
        #expect(try Self.pool(daemon, 0)["target"] as? [Int] == [])
        let reset = daemon.cli(["set-pool", "-r", "0", "4M"])
        #expect(reset.status == 0, "\(reset.stderr)")
        try Self.waitForReady(daemon, 0, [4 << 20] + target)
    }

    @Test("a device larger than the free memory takes the memory of ready files, and the fill gives way")
    func poolGivesWay() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "0")
        defer { daemon.stop() }
        #expect(daemon.cli(["create-region", "--backend", "shm", "-s", "64M", "--pool", "32Mx2"]).status == 0)
        try Self.waitForReady(daemon, 0, [32 << 20, 32 << 20])
        let device = daemon.cli(["create-device", "-r", "0", "-s", "48M", "--progress", "none"])
        #expect(device.status == 0, "\(device.stderr)")
        let region = try Self.region(daemon, 0)
        #expect(region["available_size"] as? Int == 16 << 20)
        #expect((try Self.pool(daemon, 0)["ready"] as? [Int] ?? []).isEmpty, "no 32 MiB file fits beside 48 MiB")
        #expect(daemon.cli(["destroy-device", "-f", "dax0.0", "--progress", "none"]).status == 0)
        try Self.waitForReady(daemon, 0, [32 << 20, 32 << 20])
        #expect(try Self.region(daemon, 0)["available_size"] as? Int == 64 << 20, "pooled memory counts as free")
    }
}
