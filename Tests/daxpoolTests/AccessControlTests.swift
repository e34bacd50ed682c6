import Foundation
import Testing

/// Real processes as different users against a real daemon: the daemon learns who calls from `SO_PEERCRED`.
@Suite(
    "access control between users", .timeLimit(.minutes(20)),
    .serialized,
    .enabled(if: runningAsRoot, "needs root: the test runs the CLI as uids 4242 and 65534 with setpriv")
)
struct AccessControlTests {
    static let owner: UInt32 = 4242
    static let stranger: UInt32 = 65534
    static let outsider: UInt32 = 5151
    static let clients: UInt32 = 4300

    /// A daemon whose config lets uids 4242 and 65534 create devices and members of group 4300 connect.
    func daemon() throws -> DaemonHarness {
        let daemon = try DaemonHarness()
        let config = daemon.root + "/config.json"
        let document = """
            {
              "device_creators": { "users": [\(Self.owner), "\(Self.stranger)"] },
              "socket": { "group": \(Self.clients), "mode": "0660" }
            }
            """
        try Data(document.utf8).write(to: URL(fileURLWithPath: config))
        try daemon.start(extra: ["--config", config])
        return daemon
    }

    @Test("the socket is 0660 with the configured group")
    func socketModeAndGroup() throws {
        let daemon = try daemon()
        defer { daemon.stop() }
        var status = stat()
        #expect(stat(daemon.socket, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o660)
        #expect(status.st_gid == Self.clients)
    }

    @Test("a device belongs to its creator: file chowned 0600, others get 403, the owner and root succeed")
    func ownership() throws {
        let daemon = try daemon()
        defer { daemon.stop() }
        let created = daemon.cli(as: Self.owner, gid: Self.clients, ["create-device", "-s", "16M", "--name", "mine"])
        #expect(created.status == 0, "\(created.stderr)")
        let device = try #require((try created.json() as? [[String: Any]])?.first)
        #expect(device["owner"] as? Int == Int(Self.owner))
        let path = try #require(device["path"] as? String)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_uid == Self.owner)
        #expect(status.st_mode & 0o777 == 0o600)
        let files = daemon.shmFiles()

        for arguments in [
            ["list", "-d", "mine"], ["destroy-device", "-f", "mine"], ["disable-device", "mine"],
            ["reconfigure-device", "mine", "-f", "-s", "8M"], ["attach", "mine", "--pid", "1"],
        ] {
            let refused = daemon.cli(as: Self.stranger, gid: Self.clients, arguments)
            #expect(refused.status != 0, "\(arguments) as a stranger succeeded")
            let error = try refused.error()
            #expect(error["code"] as? String == "forbidden", "\(arguments): \(refused.stderr)")
            #expect(error["status"] as? Int == 403)
            #expect((error["message"] as? String)?.contains("belongs to uid \(Self.owner)") == true)
        }
        #expect(daemon.shmFiles() == files, "refused commands changed files")
        let strangersList = daemon.cli(as: Self.stranger, gid: Self.clients, ["list"])
        #expect(strangersList.status == 0)
        #expect((try strangersList.json() as? [Any])?.isEmpty == true, "a stranger sees no devices")

        let ownersView = daemon.cli(as: Self.owner, gid: Self.clients, ["list", "-d", "mine"])
        #expect(ownersView.status == 0, "\(ownersView.stderr)")
        #expect((try ownersView.json() as? [[String: Any]])?.first?["owner"] as? Int == Int(Self.owner))
        #expect(daemon.cli(as: Self.owner, gid: Self.clients, ["disable-device", "mine"]).status == 0)
        #expect(daemon.cli(as: Self.owner, gid: Self.clients, ["enable-device", "mine"]).status == 0)
        let adminView = daemon.cli(["list"])
        #expect((try adminView.json() as? [[String: Any]])?.count == 1, "root sees every device")
        #expect(daemon.cli(["destroy-device", "-f", "mine"]).status == 0, "root administers every device")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("users who are not device creators may not create devices, regions need an administrator")
    func creatorsAndAdministrators() throws {
        let daemon = try daemon()
        defer { daemon.stop() }
        let refused = daemon.cli(as: Self.outsider, gid: Self.clients, ["create-device", "-s", "16M"])
        #expect(try refused.error()["code"] as? String == "forbidden", "\(refused.stderr)")
        let region = daemon.cli(
            as: Self.owner, gid: Self.clients, ["create-region", "--backend", "sim", "--size", "1G"])
        #expect(try region.error()["code"] as? String == "forbidden", "\(region.stderr)")
        let namedOwner = daemon.cli(
            as: Self.owner, gid: Self.clients, ["create-device", "-s", "16M", "--owner", "\(Self.stranger)"])
        #expect(try namedOwner.error()["code"] as? String == "forbidden", "\(namedOwner.stderr)")
        #expect((try daemon.cli(["list"]).json() as? [Any])?.isEmpty == true, "refused creates made nothing")

        let given = daemon.cli(["create-device", "-s", "16M", "--owner", "\(Self.stranger)"])
        #expect(given.status == 0, "\(given.stderr)")
        let device = try #require((try given.json() as? [[String: Any]])?.first)
        #expect(device["owner"] as? Int == Int(Self.stranger))
        let path = try #require(device["path"] as? String)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_uid == Self.stranger)
        #expect(daemon.cli(as: Self.stranger, gid: Self.clients, ["destroy-device", "-f", "dax0.0"]).status == 0)
    }

    @Test("the owner survives a restart, and a recreated device file is given to it again")
    func ownerPersists() throws {
        let daemon = try daemon()
        defer { daemon.stop() }
        let created = daemon.cli(as: Self.owner, gid: Self.clients, ["create-device", "-s", "16M"])
        let path = try #require((try created.json() as? [[String: Any]])?.first?["path"] as? String)
        daemon.stop()
        try FileManager.default.removeItem(atPath: path)
        try daemon.start(extra: ["--config", daemon.root + "/config.json"])
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_uid == Self.owner)
        #expect(status.st_mode & 0o777 == 0o600)
        let listed = daemon.cli(as: Self.owner, gid: Self.clients, ["list"])
        #expect((try listed.json() as? [[String: Any]])?.first?["owner"] as? Int == Int(Self.owner))
    }

    @Test("a process outside the socket's group cannot connect at all")
    func socketGroupKeepsOthersOut() throws {
        let daemon = try daemon()
        defer { daemon.stop() }
        let result = daemon.cli(as: Self.owner, gid: Self.owner, ["list"])
        #expect(result.status != 0)
        #expect(try result.error()["code"] as? String == "daemon_unreachable", "\(result.stderr)")
    }

    @Test("a bad --config is refused with a message that names the problem")
    func badConfig() throws {
        let daemon = try DaemonHarness()
        let config = daemon.root + "/config.json"
        for (document, expected) in [
            ("{\"admins\": {\"user\": [1]}}", "unknown key 'admins.user'"),
            ("{\"admins\": {\"users\": [\"no-such-user-here\"]}}", "no-such-user-here"),
            ("{\"socket\": {\"mode\": \"0666\"}}", "socket.mode"),
            ("{\"socket\": {\"mode\": \"0660\"}}", "needs socket.group"),
            ("[1]", "not a valid daxpool configuration"),
        ] {
            try Data(document.utf8).write(to: URL(fileURLWithPath: config))
            let result = daemon.cli([
                "serve", "--socket", daemon.socket, "--state-dir", daemon.stateDirectory, "--shm-root", daemon.shmRoot,
                "--config", config,
            ])
            #expect(result.status != 0)
            let error = try result.error()
            #expect(error["code"] as? String == "bad_config", "\(document): \(result.stderr)")
            #expect((error["message"] as? String)?.contains(expected) == true, "\(document): \(result.stderr)")
        }
    }
}
