import DaxPoolTestSupport
import Foundation
import Testing

/// Two tenants with real accounts against a real daemon: what one may see of the other (progress, memory-error
/// events), and the owners an administrator may name.
@Suite(
    "visibility and owners between tenants", .timeLimit(.minutes(20)),
    .serialized,
    .enabled(if: ThrowawayUser.isAvailable, "\(ThrowawayUser.unavailableReason)")
)
struct TenantVisibilityTests {
    /// The group the socket is shared with.
    static let clients: UInt32 = 4300

    /// A daemon whose config lets `creators` create devices and group 4300 connect.
    func daemon(creators: [ThrowawayUser]) throws -> DaemonHarness {
        let daemon = try DaemonHarness()
        let config = daemon.root + "/config.json"
        let users = creators.map { "\($0.uid)" }.joined(separator: ", ")
        let document = """
            {
              "device_creators": { "users": [\(users)] },
              "socket": { "group": \(Self.clients), "mode": "0660" }
            }
            """
        try Data(document.utf8).write(to: URL(fileURLWithPath: config))
        try daemon.start(extra: ["--config", config])
        return daemon
    }

    /// The JSON objects on `text`'s lines.
    static func lines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw HarnessError("not a JSON object: \(line)")
            }
            return object
        }
    }

    @Test(
        "progress shows a tenant only its own devices' operations; others' devices and pool fills only administrators")
    func progressIsTheOwners() throws {
        let alice = try ThrowawayUser()
        let bob = try ThrowawayUser()
        defer {
            alice.remove()
            bob.remove()
        }
        let daemon = try daemon(creators: [alice, bob])
        defer { daemon.stop() }
        let made = daemon.cli(as: alice.uid, gid: Self.clients, ["create-device", "-s", "16M", "--name", "alices"])
        #expect(made.status == 0, "\(made.stderr)")
        let aliceDevice = try #require((try made.json() as? [[String: Any]])?.first)
        let aliceUUID = try #require(aliceDevice["uuid"] as? String)
        #expect(
            daemon.cli(as: bob.uid, gid: Self.clients, ["create-device", "-s", "16M", "--name", "bobs"]).status == 0)
        // A pool fill: region-level, no owner.
        #expect(daemon.cli(["set-pool", "-r", "0", "8M"]).status == 0)
        var everything: [[String: Any]] = []
        for _ in 0..<200 {
            everything = try Self.lines(daemon.cli(["progress"]).stdout)
            if everything.contains(where: { $0["kind"] as? String == "fill" }) { break }
            usleep(50_000)
        }
        #expect(everything.contains { $0["kind"] as? String == "fill" }, "no fill: \(everything)")
        #expect(everything.contains { $0["device_name"] as? String == "alices" })
        #expect(everything.contains { $0["device_name"] as? String == "bobs" })

        let bobs = try Self.lines(daemon.cli(as: bob.uid, gid: Self.clients, ["progress"]).stdout)
        #expect(!bobs.isEmpty)
        #expect(bobs.allSatisfy { $0["device_name"] as? String == "bobs" }, "bob sees: \(bobs)")
        for filter in ["alices", "dax0.0", aliceUUID, "region0.pool"] {
            let result = daemon.cli(as: bob.uid, gid: Self.clients, ["progress", "-d", filter])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.isEmpty, "bob sees \(filter): \(result.stdout)")
        }
        let alices = try Self.lines(daemon.cli(as: alice.uid, gid: Self.clients, ["progress"]).stdout)
        #expect(!alices.isEmpty)
        #expect(alices.allSatisfy { $0["device_uuid"] as? String == aliceUUID }, "alice sees: \(alices)")
    }

    @Test("memory-error events reach only the owner of the device they concern; region-level ones administrators")
    func eventsAreTheOwners() throws {
        let alice = try ThrowawayUser()
        let bob = try ThrowawayUser()
        defer {
            alice.remove()
            bob.remove()
        }
        let daemon = try daemon(creators: [alice, bob])
        defer { daemon.stop() }
        #expect(
            daemon.cli(as: alice.uid, gid: Self.clients, ["create-device", "-s", "16M", "--name", "alices"]).status
                == 0)
        #expect(daemon.cli(["inject-error", "alices", "--offset", "1M", "--length", "4K"]).status == 0)
        #expect(daemon.cli(["inject-error", "-r", "0", "--region-offset", "128M", "--length", "4K"]).status == 0)
        let all = try Self.lines(daemon.cli(["events"]).stdout)
        #expect(all.count == 2, "administrator sees: \(all)")
        let alices = try Self.lines(daemon.cli(as: alice.uid, gid: Self.clients, ["events"]).stdout)
        #expect(alices.count == 1 && alices.first?["device"] as? String == "dax0.0", "alice sees: \(alices)")
        let bobs = daemon.cli(as: bob.uid, gid: Self.clients, ["events"])
        #expect(bobs.status == 0, "\(bobs.stderr)")
        #expect(bobs.stdout.isEmpty, "bob sees: \(bobs.stdout)")
    }

    @Test("an owner uid no user has is refused with 400 unknown_owner naming it; a real user is accepted")
    func ownersMustExist() throws {
        let alice = try ThrowawayUser()
        defer { alice.remove() }
        let daemon = try daemon(creators: [alice])
        defer { daemon.stop() }
        let files = daemon.shmFiles()
        let ghost = daemon.cli(["create-device", "-s", "16M", "--owner", "3999999999"])
        #expect(ghost.status != 0)
        let error = try ghost.error()
        #expect(error["code"] as? String == "unknown_owner", "\(ghost.stderr)")
        #expect(error["status"] as? Int == 400)
        #expect((error["message"] as? String)?.contains("3999999999") == true)
        #expect((try daemon.cli(["list"]).json() as? [Any])?.isEmpty == true)
        #expect(daemon.shmFiles() == files, "a refused create left files")

        // A user removed after the fact is as unknown as one that never was.
        let gone = try ThrowawayUser()
        let goneUID = gone.uid
        gone.remove()
        let removed = daemon.cli(["create-device", "-s", "16M", "--owner", "\(goneUID)"])
        #expect(try removed.error()["code"] as? String == "unknown_owner", "\(removed.stderr)")

        let given = daemon.cli(["create-device", "-s", "16M", "--owner", alice.name])
        #expect(given.status == 0, "\(given.stderr)")
        #expect((try given.json() as? [[String: Any]])?.first?["owner"] as? Int == Int(alice.uid))
    }
}

/// Sizes and names from the command line follow the daemon's one grammar and its name rules.
@Suite("strict sizes and names on the command line", .timeLimit(.minutes(20)), .serialized)
struct StrictInputTests {
    @Test(
        "sizes with B or iB suffixes, spaces or signs, and look-alike or invisible names are refused; nothing changes")
    func refusedInput() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "128M")
        defer { daemon.stop() }
        let before = daemon.cli(["list", "-R", "-M"]).stdout
        let files = daemon.shmFiles()
        let cases: [[String]] = [
            ["create-device", "-s", "2MB"], ["create-device", "-s", " 2G"], ["create-device", "-s", "16M "],
            ["create-device", "-s", "+16M"], ["create-device", "-s", "16MiB"], ["create-device", "-s", "0X1000000"],
            ["create-region", "--backend", "shm", "-s", "64MB"], ["set-pool", "-r", "0", "8MBx2"],
            ["set-pool", "-r", "0", "8Mx+2"], ["inject-error", "-r", "0", "--region-offset", " 0", "-l", "4K"],
            ["create-device", "-s", "16M", "--name", "dax0.7"],
            ["create-device", "-s", "16M", "--name", "5b405e8d-700e-4499-9e09-1967d5637178"],
            ["create-device", "-s", "16M", "--name", "evil\u{202E}gpj"],
            ["create-device", "-s", "16M", "--name", "vm\u{200B}1"],
            ["create-device", "-s", "16M", "--name", "a\u{1B}[2Jb"],
        ]
        for arguments in cases {
            let result = daemon.cli(arguments)
            #expect(result.status != 0, "\(arguments) succeeded")
            let error = try daemon.errorObject(result, label: "\(arguments)")
            #expect(error["code"] as? String == "bad_request", "\(arguments): \(result.stderr)")
        }
        #expect(daemon.cli(["list", "-R", "-M"]).stdout == before, "refused input changed the state")
        #expect(daemon.shmFiles() == files, "refused input changed files")
        #expect(daemon.cli(["create-device", "-s", "0x1000000", "--name", "vm-1"]).status == 0)
        #expect(daemon.cli(["set-pool", "-r", "0", "8Mx2"]).status == 0)
    }
}
