import DaxPoolTestSupport
import Foundation
import Testing

/// Directories are trusted or refused, and one directory has one owner (issue 13): the real daemon against
/// directories a tenant made before it started, symbolic links, overlapping region paths and a second daemon.
@Suite("directory trust", .timeLimit(.minutes(20)), .serialized)
struct DirectoryTrustTests {
    /// How a `daxpool serve` that should refuse to start ended.
    struct Serve {
        /// Whether it exited by itself (a refusal); `false` when it served and was killed.
        var exited: Bool
        var status: Int32
        var stderr: String

        /// The JSON error object it printed last.
        func error() throws -> [String: Any] {
            for line in stderr.split(separator: "\n").reversed() where line.hasPrefix("{") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                    return object
                }
            }
            if let object = try? JSONSerialization.jsonObject(with: Data(stderr.utf8)) as? [String: Any] {
                return object
            }
            throw HarnessError("no JSON error on stderr: \(stderr)")
        }
    }

    /// Runs `daxpool serve` with these paths until it exits, or until it says it is ready (it serves: it is killed).
    static func serve(
        socket: String, stateDirectory: String, shmRoot: String, harness: DaemonHarness,
        defaultRegionSize: String = "64M"
    ) throws -> Serve {
        let log = "\(harness.root)/serve-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonHarness.binary)
        process.arguments = [
            "serve", "--socket", socket, "--state-dir", stateDirectory, "--shm-root", shmRoot,
            "--default-region-size", defaultRegionSize, "--log-level", "error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: log)
        let exited = try DaemonHarness.runUntilReadyOrExit(process, "daxpool serve on \(socket)") == .exited
        if !exited {
            #expect(harness.cli(["list", "-R"], socket: socket).status == 0, "ready, but does not answer")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return Serve(exited: exited, status: process.terminationStatus, stderr: stderr)
    }

    @Test(
        "a shm root another user made with mode 0777 before the first start is refused, naming it",
        .enabled(if: ThrowawayUser.isAvailable, Comment(rawValue: ThrowawayUser.unavailableReason)))
    func precreatedShmRootRefused() throws {
        let harness = try DaemonHarness()
        let user = try ThrowawayUser()
        defer { user.remove() }
        #expect(mkdir(harness.shmRoot, 0o700) == 0)
        chmod(harness.shmRoot, 0o777)
        chown(harness.shmRoot, user.uid, user.gid)

        let serve = try Self.serve(
            socket: harness.socket, stateDirectory: harness.stateDirectory, shmRoot: harness.shmRoot, harness: harness)
        #expect(serve.exited, "daxpool serve accepted a shm root owned by uid \(user.uid) with mode 0777")
        #expect(serve.status != 0)
        let error = try serve.error()
        #expect(error["code"] as? String == "untrusted_directory", "\(serve.stderr)")
        let message = error["message"] as? String ?? ""
        #expect(message.contains(harness.shmRoot), "\(message)")
        #expect(message.contains("uid \(user.uid)"), "\(message)")
        #expect(message.contains("0777"), "\(message)")
        // Nothing was made in it, and it is still theirs.
        #expect(harness.shmFiles().isEmpty)
        var info = stat()
        #expect(stat(harness.shmRoot, &info) == 0 && info.st_uid == user.uid)
    }

    @Test(
        "a socket directory another user made before the first start is refused, naming it",
        .enabled(if: ThrowawayUser.isAvailable, Comment(rawValue: ThrowawayUser.unavailableReason)))
    func precreatedSocketDirectoryRefused() throws {
        let harness = try DaemonHarness()
        let user = try ThrowawayUser()
        defer { user.remove() }
        let directory = "\(harness.root)/daxpool-\(getuid())"
        #expect(mkdir(directory, 0o700) == 0)
        chmod(directory, 0o777)
        chown(directory, user.uid, user.gid)

        let serve = try Self.serve(
            socket: "\(directory)/daxpool.sock", stateDirectory: harness.stateDirectory, shmRoot: harness.shmRoot,
            harness: harness)
        #expect(serve.exited, "daxpool serve accepted a socket directory owned by uid \(user.uid)")
        #expect(serve.status != 0)
        let error = try serve.error()
        #expect(error["code"] as? String == "untrusted_directory", "\(serve.stderr)")
        #expect((error["message"] as? String)?.contains("socket directory \(directory)") == true, "\(serve.stderr)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true)
    }

    @Test("a symbolic link in the state directory's path is refused, and nothing is written behind it")
    func symlinkedStateDirectoryRefused() throws {
        let harness = try DaemonHarness()
        let real = "\(harness.root)/real"
        #expect(mkdir(real, 0o700) == 0)
        #expect(symlink(real, "\(harness.root)/link") == 0)

        let serve = try Self.serve(
            socket: harness.socket, stateDirectory: "\(harness.root)/link/state", shmRoot: harness.shmRoot,
            harness: harness)
        #expect(serve.exited, "daxpool serve followed a symbolic link to its state directory")
        #expect(serve.status != 0)
        let error = try serve.error()
        #expect(error["code"] as? String == "untrusted_directory", "\(serve.stderr)")
        let message = error["message"] as? String ?? ""
        #expect(message.contains("\(harness.root)/link"), "\(message)")
        #expect(message.contains("symbolic link to \(real)"), "\(message)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: real))?.isEmpty == true)
    }

    @Test("create-region refuses a path equal to, inside or around another region's with 409 region_path_conflict")
    func overlappingRegionPathsRefused() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        defer { daemon.stop() }
        let region0 = "\(daemon.shmRoot)/region0"
        let files = daemon.shmFiles()
        for (path, relation) in [
            (region0, "already the directory of region 0"),
            ("\(daemon.shmRoot)//region0/", "already the directory of region 0"),
            ("\(region0)/inner", "inside \(region0)"),
            (daemon.shmRoot, "holds \(region0)"),
        ] {
            let result = daemon.cli(["create-region", "--backend", "shm", "-s", "64M", "--path", path])
            #expect(result.status != 0, "create-region --path \(path) was accepted: \(result.stdout)")
            let error = try result.error()
            #expect(error["code"] as? String == "region_path_conflict", "\(path): \(result.stderr)")
            #expect(error["status"] as? Int == 409, "\(path): \(result.stderr)")
            #expect((error["message"] as? String)?.contains(relation) == true, "\(path): \(result.stderr)")
        }
        #expect(daemon.shmFiles() == files)
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.count == 1)
        // A sibling whose name merely starts the same is another directory.
        let sibling = daemon.cli(["create-region", "--backend", "shm", "-s", "64M", "--path", "\(region0)1"])
        #expect(sibling.status == 0, "\(sibling.stderr)")
    }

    @Test(
        "create-region refuses a region path through a symbolic link or in a directory another user may write",
        .enabled(if: ThrowawayUser.isAvailable, "needs root and useradd: another user's directory")
    )
    func untrustedRegionPathsRefused() throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        defer { daemon.stop() }
        // A link inside the daemon's own shm root that points somewhere else.
        let elsewhere = daemon.shmRoot + "-elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        try #require(symlink(elsewhere, "\(daemon.shmRoot)/link") == 0)
        // A directory the tenant made, open to everyone, as it could before the daemon ever ran.
        let foreign = "/dev/shm/dxt-dir-\(tenant.name)"
        #expect(tenant.run("/bin/mkdir", ["-m", "0777", foreign]).status == 0)
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        for (path, problem) in [
            ("\(daemon.shmRoot)/link/region5", "symbolic link"), ("\(foreign)/region6", "\(foreign)"),
        ] {
            let result = daemon.cli(["create-region", "--backend", "shm", "-s", "16M", "--path", path])
            #expect(result.status != 0, "create-region --path \(path) was accepted: \(result.stdout)")
            #expect(result.stderr.contains(problem), "\(path): \(result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign).isEmpty)
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.count == 1)
    }

    @Test("a second daemon (other state directory and socket) on one shm root is refused: region0 is another state's")
    func secondDaemonOnSameShmRootRefused() throws {
        let first = try DaemonHarness()
        try first.start(defaultRegionSize: "64M")
        defer { first.stop() }
        #expect(first.cli(["create-device", "-s", "8M", "--name", "kept"]).status == 0)
        let files = first.shmFiles()
        let before = first.cli(["list", "-R", "-M"]).stdout

        // Its default region (region0 too) fits in what the first region has free, so that only the claim refuses it.
        let second = try DaemonHarness()
        let serve = try Self.serve(
            socket: second.socket, stateDirectory: second.stateDirectory, shmRoot: first.shmRoot, harness: second,
            defaultRegionSize: "16M")
        #expect(serve.exited, "a second daemon adopted \(first.shmRoot)/region0, which another daemon serves")
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("\(first.shmRoot)/region0"), "\(serve.stderr)")
        #expect(
            serve.stderr.contains("belongs to another daxpool state")
                || serve.stderr.contains("in use by another running daxpool daemon"),
            "\(serve.stderr)")
        // The first daemon still serves the same layout, with its files as they were.
        #expect(first.cli(["list", "-R", "-M"]).stdout == before)
        #expect(first.shmFiles() == files)
    }
}

extension DirectoryTrustTests {
    @Test(
        "a daemon that is not root refuses a config that would let other users in: it serves its own user only",
        .enabled(if: ThrowawayUser.isAvailable, "needs root and useradd: the daemon runs as a throwaway user")
    )
    func nonRootDaemonServesOneUser() throws {
        let user = try ThrowawayUser()
        defer { user.remove() }
        let base = "/tmp/dxt-serve-\(user.name)"
        #expect(user.run("/bin/mkdir", ["-m", "0700", base]).status == 0)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let config = "\(base)/config.json"
        let written = user.run("/bin/sh", ["-c", "echo '{\"device_creators\": {\"users\": [65534]}}' > \(config)"])
        #expect(written.status == 0, "\(written.stderr)")
        let shmRoot = "/dev/shm/dxt-serve-\(user.name)"
        defer { try? FileManager.default.removeItem(atPath: shmRoot) }
        let serve = user.run(
            "/usr/bin/timeout",
            [
                "-k", "5", "30", DaemonHarness.binary, "serve", "--socket", "\(base)/daxpool.sock", "--state-dir",
                "\(base)/state", "--shm-root", shmRoot, "--default-region-size", "16M", "--config", config,
            ])
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("serves its own user only"), "\(serve.stderr)")
        #expect(!FileManager.default.fileExists(atPath: shmRoot), "nothing was made before the refusal")
    }
}
