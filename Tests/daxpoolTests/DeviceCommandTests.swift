import Foundation
import Testing

@Suite("device commands against a live daemon", .timeLimit(.minutes(20)), .serialized)
struct DeviceCommandTests {
    @Test("create-device makes a 0600 file of exactly the size, committed, that list -M describes")
    func createDevice() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        let result = daemon.cli(["create-device", "-s", "64M", "--name", "vm1"])
        #expect(result.status == 0, "\(result.stderr)")
        let device = try #require((try result.json() as? [[String: Any]])?.first)
        #expect(device["chardev"] as? String == "dax0.0")
        #expect(device["size"] as? Int == 64 << 20)
        #expect(device["align"] as? Int == 2 << 20)
        #expect(device["mode"] as? String == "devdax")
        let path = try #require(device["path"] as? String)
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_size == 64 << 20)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(Int(status.st_blocks) * 512 >= 64 << 20, "pages are committed by fallocate")
        let listed = try #require(try daemon.cli(["list", "-M", "-d", "vm1"]).json() as? [[String: Any]])
        let mappings = try #require(listed.first?["mappings"] as? [[String: Any]])
        #expect(mappings.count == 1)
        #expect(mappings.first?["start"] as? Int == 0)
        #expect(mappings.first?["end"] as? Int == (64 << 20) - 1)
        #expect(mappings.first?["page_offset"] as? Int == 0)
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.first?["available_size"] as? Int == 192 << 20)
        #expect(regions.first?["devices"] == nil)
        let qemu = daemon.cli(["qemu-args", "vm1"])
        #expect(
            qemu.stdout.contains(
                "memory-backend-file,id=daxpool-mem,size=67108864,mem-path=\(path),share=on,align=2097152"))
    }

    @Test("resize needs a disabled device, changes the file, and enable brings the path back")
    func reconfigure() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        let device = try #require((try daemon.cli(["create-device", "-s", "32M"]).json() as? [[String: Any]])?.first)
        let path = try #require(device["path"] as? String)
        let refused = daemon.cli(["reconfigure-device", "dax0.0", "-s", "64M"])
        #expect(refused.status != 0)
        #expect(try refused.error()["code"] as? String == "device_enabled")
        #expect(daemon.cli(["disable-device", "dax0.0"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(daemon.cli(["reconfigure-device", "dax0.0", "-s", "64M"]).status == 0)
        #expect(daemon.cli(["enable-device", "dax0.0"]).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.size] as? NSNumber)?.uint64Value == 64 << 20)
        #expect(daemon.cli(["destroy-device", "dax0.0"]).status != 0)
        #expect(daemon.cli(["destroy-device", "-f", "dax0.0"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("create-device --input rebuilds exactly the layout that list -M printed")
    func inputRoundTrip() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        for _ in 0..<3 { #expect(daemon.cli(["create-device", "-s", "64M"]).status == 0) }
        #expect(daemon.cli(["destroy-device", "-f", "dax0.0"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "128M", "--name", "split"]).status == 0)
        let listed = daemon.cli(["list", "-M", "-d", "split"])
        let original = try #require((try listed.json() as? [[String: Any]])?.first)
        #expect((original["mappings"] as? [Any])?.count == 2)
        let input = daemon.root + "/input.json"
        try Data(listed.stdout.utf8).write(to: URL(fileURLWithPath: input))
        #expect(daemon.cli(["destroy-device", "-f", "split"]).status == 0)
        let rebuilt = daemon.cli(["create-device", "--input", input])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let device = try #require((try rebuilt.json() as? [[String: Any]])?.first)
        let again = try #require(
            (try daemon.cli(["list", "-M", "-d", device["chardev"] as? String ?? ""]).json() as? [[String: Any]])?.first
        )
        #expect(again["mappings"] as? NSArray == original["mappings"] as? NSArray)
        #expect(again["size"] as? Int == original["size"] as? Int)
    }
}
