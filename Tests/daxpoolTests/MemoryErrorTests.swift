import Foundation
import Testing

@Suite("memory errors end to end", .timeLimit(.minutes(20)), .serialized)
struct MemoryErrorTests {
    @Test("inject-error attributes, quarantines, announces to a follower, and survives a restart")
    func injectEndToEnd() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "128M")
        defer { daemon.stop() }
        #expect(daemon.cli(["create-device", "-s", "32M", "--name", "first"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "32M", "--name", "victim"]).status == 0)

        // A follower started before the error gets it. It asks for every event after 0, so it needs no head start:
        // the event reaches it on the live stream, or from the backlog when its request lands after the injection.
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: DaemonHarness.binary)
        follower.arguments = ["events", "--follow", "--count", "1"]
        var environment = ProcessInfo.processInfo.environment
        environment["DAXPOOL_SOCKET"] = daemon.socket
        follower.environment = environment
        let pipe = Pipe()
        follower.standardOutput = pipe
        try follower.run()

        let injected = daemon.cli(["inject-error", "victim", "--offset", "1M", "--length", "4K"])
        #expect(injected.status == 0, "\(injected.stderr)")
        let events = try #require(try injected.json() as? [[String: Any]])
        #expect(events.first?["device"] as? String == "dax0.1")
        #expect(events.first?["device_offset"] as? Int == 1 << 20)
        #expect(events.first?["region_offset"] as? Int == (32 << 20) + (1 << 20))

        let streamed = String(
            decoding: DaemonHarness.drain(pipe.fileHandleForReading.fileDescriptor, -1).0, as: UTF8.self)
        follower.waitUntilExit()
        #expect(streamed.contains("\"device\":\"dax0.1\""), "follower saw: \(streamed)")

        let listed = try #require(try daemon.cli(["list", "-d", "victim"]).json() as? [[String: Any]])
        #expect(listed.first?["badblock_count"] as? Int == 1)
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.first?["badblock_count"] as? Int == 1)

        // The bad range is never handed out again, and a client that connects later still reads the event.
        #expect(daemon.cli(["destroy-device", "-f", "victim"]).status == 0)
        while daemon.cli(["create-device", "-s", "2M"]).status == 0 {}
        let devices = try #require(try daemon.cli(["list", "-M"]).json() as? [[String: Any]])
        let bad = (32 << 20) + (1 << 20)
        for device in devices {
            for mapping in device["mappings"] as? [[String: Any]] ?? [] {
                let start = mapping["start"] as? Int ?? 0
                let end = mapping["end"] as? Int ?? 0
                #expect(!(start...end).contains(bad), "\(device["chardev"] ?? "") covers the bad block")
            }
        }
        daemon.stop(signal: SIGKILL)
        try daemon.start(defaultRegionSize: "128M")
        let later = daemon.cli(["events"])
        #expect(later.stdout.contains("\"device_offset\":1048576"))
        let after = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(after.first?["badblock_count"] as? Int == 1)
    }

    @Test("inject-error refuses offsets past the device and unknown devices")
    func refusals() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        defer { daemon.stop() }
        #expect(daemon.cli(["create-device", "-s", "4M", "--name", "small"]).status == 0)
        #expect(daemon.cli(["inject-error", "small", "--offset", "8M"]).status != 0)
        #expect(daemon.cli(["inject-error", "nothing", "--offset", "0"]).status != 0)
        #expect(daemon.cli(["inject-error", "-r", "0", "--region-offset", "1G"]).status != 0)
        #expect(daemon.cli(["events"]).stdout.isEmpty)
    }
}
