import Foundation
import Testing

@Suite("qemu-args --live-update against a live daemon", .timeLimit(.minutes(20)), .serialized)
struct QemuArgsLiveUpdateTests {
    @Test(
        "qemu-args --live-update prints the x-ignore-shared save before the kexec and the -incoming resume after it, and warns that shm memory does not survive a kexec"
    )
    func liveUpdateSteps() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        let created = daemon.cli(["create-device", "-s", "64M", "--name", "vm1"])
        #expect(created.status == 0, "\(created.stderr)")
        let device = try #require((try created.json() as? [[String: Any]])?.first)
        let path = try #require(device["path"] as? String)
        let chardev = try #require(device["chardev"] as? String)
        let plain = try #require(try daemon.cli(["qemu-args", "--json", "vm1"]).json() as? [String])

        let json = daemon.cli(["qemu-args", "--live-update", "--json", "--state-file", "/srv/vm \"1\".state", "vm1"])
        #expect(json.status == 0, "\(json.stderr)")
        let steps = try #require(try json.json() as? [String: Any])
        #expect(steps["device"] as? String == chardev)
        #expect(steps["survives_kexec"] as? Bool == false, "an shm device's memory does not survive a kexec")
        #expect((steps["warning"] as? String)?.contains("does not survive a kexec") == true)
        #expect(steps["state_file"] as? String == "/srv/vm \"1\".state")
        #expect(steps["arguments"] as? [String] == plain)
        #expect(steps["incoming_arguments"] as? [String] == plain + ["-incoming", "defer"])
        let before = try #require(steps["before_kexec"] as? [String])
        let after = try #require(steps["after_kexec"] as? [String])
        let commands = try (before + after).map { command in
            try #require(
                try JSONSerialization.jsonObject(with: Data(command.utf8)) as? [String: Any], "QMP JSON: \(command)")
        }
        #expect(
            commands.compactMap { $0["execute"] as? String } == [
                "migrate-set-capabilities", "stop", "migrate", "query-migrate", "quit",
                "migrate-set-capabilities", "migrate-incoming", "query-migrate", "cont",
            ])
        let capability = (commands[0]["arguments"] as? [String: Any])?["capabilities"] as? [[String: Any]]
        #expect(capability?.first?["capability"] as? String == "x-ignore-shared")
        #expect(capability?.first?["state"] as? Bool == true)
        #expect((commands[2]["arguments"] as? [String: Any])?["uri"] as? String == "exec:cat > /srv/vm \"1\".state")
        #expect((commands[6]["arguments"] as? [String: Any])?["uri"] as? String == "exec:cat /srv/vm \"1\".state")

        let text = daemon.cli(["qemu-args", "--live-update", "vm1"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("# WARNING: \(chardev) is a shm device: its memory does not survive a kexec"))
        #expect(text.stdout.contains("mem-path=\(path),share=on"))
        #expect(text.stdout.contains(#""capability":"x-ignore-shared","state":true"#))
        #expect(text.stdout.contains(#"{"execute":"migrate","arguments":{"uri":"exec:cat > /var/lib/daxpool/"#))
        #expect(text.stdout.contains("... -incoming defer"))
        #expect(text.stdout.contains(#"{"execute":"cont"}"#))
    }
}
