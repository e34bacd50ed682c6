import Foundation
import Testing

@Suite("daemon lifecycle", .timeLimit(.minutes(20)), .serialized)
struct DaemonLifecycleTests {
    @Test("first start creates the embedded default shm region")
    func defaultRegion() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "128M")
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.count == 1)
        #expect(regions.first?["backend"] as? String == "shm")
        #expect(regions.first?["size"] as? Int == 128 << 20)
        #expect(regions.first?["available_size"] as? Int == 128 << 20)
        #expect(daemon.stop() == 0)
    }

    @Test("kill -9 and a restart report the identical layout")
    func crashRestart() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "512M")
        #expect(daemon.cli(["create-device", "-s", "64M", "--name", "one"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "64M", "--name", "two"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "64M", "-a", "4K"]).status == 0)
        #expect(daemon.cli(["destroy-device", "-f", "one"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "128M", "--name", "split"]).status == 0)
        #expect(daemon.cli(["disable-device", "two"]).status == 0)
        let before = daemon.cli(["list", "-R", "-M"])
        #expect(before.status == 0)
        let split = try #require(try daemon.cli(["list", "-M", "-d", "split"]).json() as? [[String: Any]])
        #expect((split.first?["mappings"] as? [Any])?.count == 2)
        daemon.stop(signal: SIGKILL)
        try daemon.start(defaultRegionSize: "512M")
        let after = daemon.cli(["list", "-R", "-M"])
        #expect(after.stdout == before.stdout)
        #expect(daemon.stop() == 0)
    }

    @Test("layouts survive a lost tmpfs: files are recreated with their sizes")
    func filesRecreated() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        let created = try #require(try daemon.cli(["create-device", "-s", "32M"]).json() as? [[String: Any]])
        let path = try #require(created.first?["path"] as? String)
        daemon.stop()
        try FileManager.default.removeItem(atPath: path)
        try daemon.start()
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.size] as? NSNumber)?.uint64Value == 32 << 20)
        daemon.stop()
    }

    @Test("SIGTERM stops the daemon cleanly and a second serve on the same socket is refused")
    func singleInstance() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        let second = Process()
        second.executableURL = URL(fileURLWithPath: DaemonHarness.binary)
        second.arguments = [
            "serve", "--socket", daemon.socket, "--state-dir", daemon.stateDirectory + "2",
            "--shm-root", daemon.shmRoot + "-2",
        ]
        let err = Pipe()
        second.standardError = err
        second.standardOutput = FileHandle.nullDevice
        try second.run()
        let message = String(
            decoding: DaemonHarness.drain(err.fileHandleForReading.fileDescriptor, -1).0, as: UTF8.self)
        second.waitUntilExit()
        #expect(second.terminationStatus != 0)
        #expect(message.contains("already_running"))
        #expect(message.contains("\(daemon.process?.processIdentifier ?? -1)"))
        #expect(daemon.cli(["list"]).status == 0)
        #expect(daemon.stop(signal: SIGTERM) == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
    }

    @Test("a stale socket file is replaced and a regular file at the socket path is refused")
    func socketPathRules() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        daemon.stop(signal: SIGKILL)
        #expect(FileManager.default.fileExists(atPath: daemon.socket))
        try daemon.start()
        daemon.stop()
        _ = FileManager.default.createFile(atPath: daemon.socket, contents: Data("keep me".utf8))
        #expect(throws: HarnessError.self) { try daemon.start() }
        #expect(FileManager.default.contents(atPath: daemon.socket) == Data("keep me".utf8))
    }
}
