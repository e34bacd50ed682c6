import DaxPoolTestSupport
import Foundation
import Glibc
import Testing

/// The issue's hostile tenant against the real daemon as root: a throwaway user who may create devices creates
/// one over the socket, writes its secret, keeps a way into the memory (an open descriptor, a mapping, a hard
/// link), disables and destroys the device the ordinary way, and then the next owner (root) creates a device of the
/// same size. The next owner's device reads zero, and the tenant sees nothing of what the next owner writes.
@Suite(
    "hostile tenant against the daemon", .serialized, .timeLimit(.minutes(20)),
    .enabled(if: ThrowawayUser.isAvailable, "needs root and useradd: the test acts as a throwaway tenant")
)
struct TenantAttackTests {
    static let clients: UInt32 = 4300
    static let secret = "NEXT-OWNER-SECRET"

    /// A daemon on which `tenant` may create devices.
    func daemon(for tenant: ThrowawayUser) throws -> DaemonHarness {
        let daemon = try DaemonHarness()
        let config = daemon.root + "/config.json"
        let document = """
            {
              "device_creators": { "users": ["\(tenant.name)"] },
              "socket": { "group": \(Self.clients), "mode": "0660" }
            }
            """
        try Data(document.utf8).write(to: URL(fileURLWithPath: config))
        try daemon.start(defaultRegionSize: "64M", extra: ["--config", config])
        return daemon
    }

    @Test(
        "a tenant's kept descriptor, mapping or link never reaches the next owner's device",
        arguments: ["fd", "map", "inflight", "link"]
    )
    func keptWayIn(mode: String) throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let daemon = try daemon(for: tenant)
        defer { daemon.stop() }

        // As root, the region is its own tmpfs of the region's size.
        let region = try #require((try daemon.cli(["list", "-R"]).json() as? [[String: Any]])?.first)
        let regionPath = try #require(region["path"] as? String)
        let mount = Self.mount(at: regionPath)
        #expect(
            mount?.type == "tmpfs" && mount?.options.contains("size=65536k") == true, "\(String(describing: mount))")

        let created = daemon.cli(as: tenant.uid, gid: Self.clients, ["create-device", "-s", "16M", "--name", "t"])
        try #require(created.status == 0, "\(created.stderr)")
        let device = try #require((try created.json() as? [[String: Any]])?.first)
        let path = try #require(device["path"] as? String)

        let keep = "/dev/shm/dxt-keep-\(tenant.name)"
        defer { unlink(keep) }
        let program = try TenantProgram(tenant, mode: mode, path: path, keep: keep)
        defer { program.stop() }
        let ready = try program.readLine()
        if mode == "link" {
            // No directory the tenant may write shares the region's filesystem.
            #expect(ready == "refused \(EXDEV)", "\(ready) \(program.errors())")
        } else {
            #expect(ready.hasPrefix("ready"), "\(ready) \(program.errors())")
        }
        for arguments in [["disable-device", "t"], ["destroy-device", "t", "--progress", "none"]] {
            let result = daemon.cli(as: tenant.uid, gid: Self.clients, arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        // Wait for the background scrub: the region's pending_scrub_size goes away.
        try waitBlockingUntil("the destroyed device's scrub finished (no pending_scrub_size)") {
            let regions = try daemon.cli(["list", "-R"]).json() as? [[String: Any]]
            return regions?.first?["pending_scrub_size"] == nil
        }

        let next = daemon.cli(["create-device", "-s", "16M", "--name", "next"])
        try #require(next.status == 0, "\(next.stderr)")
        let nextPath = try #require(((try next.json() as? [[String: Any]])?.first)?["path"] as? String)
        let descriptor = open(nextPath, O_RDWR | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        let length = 16 << 20
        let mapping = try #require(mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0))
        try #require(mapping != MAP_FAILED)
        defer { munmap(mapping, length) }
        let bytes = UnsafeMutableRawBufferPointer(start: mapping, count: length)
        #expect(bytes.allSatisfy { $0 == 0 }, "the next owner's device reads zero")
        let pattern = Array(Self.secret.utf8)
        for index in 0..<length { bytes[index] = pattern[index % pattern.count] }
        msync(mapping, length, MS_SYNC)

        if mode != "link" {
            let seen = try program.ask("check \(Self.secret)")
            #expect(seen == "clean" || seen == "denied", "the tenant, through its \(mode), reports \(seen)")
            let tenantInode = UInt64(ready.split(separator: " ").last.flatMap { UInt64($0) } ?? 0)
            var status = stat()
            #expect(fstat(descriptor, &status) == 0 && UInt64(status.st_ino) != tenantInode)
        }
    }

    @Test("a device file its owner grew is reported (list excess_size, an excess event) and cut back on destroy")
    func grownDeviceFile() throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let daemon = try daemon(for: tenant)
        defer { daemon.stop() }
        let created = daemon.cli(as: tenant.uid, gid: Self.clients, ["create-device", "-s", "16M", "--name", "t"])
        try #require(created.status == 0, "\(created.stderr)")
        let path = try #require(((try created.json() as? [[String: Any]])?.first)?["path"] as? String)
        let program = try TenantProgram(tenant, mode: "grow", path: path, keep: "")
        let ready = try program.readLine()
        program.stop()
        try #require(ready.hasPrefix("ready"), "\(ready) \(program.errors())")

        let listed = daemon.cli(as: tenant.uid, gid: Self.clients, ["list", "-d", "t"])
        let device = try #require((try listed.json() as? [[String: Any]])?.first)
        #expect(device["excess_size"] as? Int == 32 << 20, "\(listed.stdout)")
        let events = daemon.cli(as: tenant.uid, gid: Self.clients, ["events"])
        let lines = events.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let excess = lines.filter { $0["source"] as? String == "excess" }
        #expect(excess.count == 1, "\(events.stdout) \(events.stderr)")
        #expect(excess.first?["length"] as? Int == 32 << 20 && excess.first?["device_offset"] as? Int == 16 << 20)

        for arguments in [["disable-device", "t"], ["destroy-device", "t"]] {
            let result = daemon.cli(as: tenant.uid, gid: Self.clients, arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        // Cut back: the region's files hold no more than the 16 MiB the device had, and all of it is free again.
        let region = try #require((try daemon.cli(["list", "-R"]).json() as? [[String: Any]])?.first)
        #expect(region["available_size"] as? Int == 64 << 20, "\(region)")
        let held = daemon.shmFiles().filter { $0.key.hasPrefix("region0/.pool/") }.values.reduce(0, +)
        #expect(held <= 16 << 20, "\(daemon.shmFiles())")
    }

    /// The type and options of the mount at `path`.
    static func mount(at path: String) -> (type: String, options: String)? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[4] == path, let dash = fields.firstIndex(of: "-") else { continue }
            return (String(fields[dash + 1]), String(fields.last ?? ""))
        }
        return nil
    }
}
