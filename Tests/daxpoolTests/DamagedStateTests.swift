import Foundation
import Testing

/// The real daemon against damaged state, as a bad disk or an operator would leave it: nothing is destroyed on
/// doubt, the region comes up degraded, and `daxpool recover` rebuilds it.
@Suite("damaged state: degraded regions and recover", .timeLimit(.minutes(20)), .serialized)
struct DamagedStateTests {
    /// The region's entry of `list -R`.
    static func region(_ daemon: DaemonHarness, _ id: Int = 0) throws -> [String: Any] {
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        return try #require(regions.first { $0["id"] as? Int == id })
    }

    /// Writes `pattern` into the first bytes of a device file, as a guest would.
    static func scribble(_ path: String, _ pattern: String) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data(pattern.utf8))
        try handle.close()
    }

    static func head(_ path: String, _ count: Int) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: count) else {
            return nil
        }
        return String(decoding: data, as: UTF8.self)
    }

    @Test(
        "a journal cut short behind its labels: the region comes up degraded, no file is touched, recover adopts the device"
    )
    func journalCutShort() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        #expect(daemon.cli(["create-device", "-s", "4M", "--name", "first", "--progress", "none"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "8M", "--name", "second", "--progress", "none"]).status == 0)
        let listed = try #require(try daemon.cli(["list"]).json() as? [[String: Any]])
        let second = try #require(listed.first { $0["name"] as? String == "second" })
        let secondPath = try #require(second["path"] as? String)
        let secondUUID = try #require(second["uuid"] as? String)
        try Self.scribble(secondPath, "guest memory of second")
        daemon.stop()

        // The last journal record (the second create: two 4 KiB copies) is cut away; its labels stay. The records
        // end at the last block holding a nonzero byte (zeros written ahead for appends follow them).
        let ledger = daemon.stateDirectory + "/ledger"
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ledger)))
        let last = try #require(bytes.lastIndex { $0 != 0 })
        let end = (last / 4096 + 1) * 4096
        let handle = try #require(FileHandle(forUpdatingAtPath: ledger))
        try handle.truncate(atOffset: UInt64(end - 8192))
        try handle.close()
        let labelsBefore = try Data(contentsOf: URL(fileURLWithPath: daemon.stateDirectory + "/region0.labels"))
        let filesBefore = daemon.shmFiles()

        try daemon.start(defaultRegionSize: "64M")
        let region = try Self.region(daemon)
        #expect(region["state"] as? String == "degraded")
        #expect((region["degraded_reasons"] as? [String])?.isEmpty == false)
        #expect((region["remedy"] as? String)?.contains("daxpool recover -r 0") == true)
        #expect(daemon.shmFiles() == filesBefore, "a start in doubt touched the region's files")
        #expect(Self.head(secondPath, 22) == "guest memory of second")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: daemon.stateDirectory + "/region0.labels")) == labelsBefore,
            "a start in doubt rewrote the labels")
        let refused = daemon.cli(["create-device", "-r", "0", "-s", "2M", "--progress", "none"])
        #expect(refused.status != 0)
        #expect(try refused.error()["code"] as? String == "region_degraded")
        let destroy = daemon.cli(["destroy-device", "-f", "first"])
        #expect(try destroy.error()["code"] as? String == "region_degraded")
        let events = daemon.cli(["events"]).stdout
        #expect(events.contains("\"source\":\"degraded\""), "\(events)")

        // The dry run explains and changes nothing; --apply adopts the device the journal lost, at its old path.
        let plan = try #require(try daemon.cli(["recover"]).json() as? [String: Any])
        let regions = try #require(plan["regions"] as? [[String: Any]])
        let decisions = try #require(regions.first?["decisions"] as? [[String: Any]])
        #expect(decisions.contains { $0["action"] as? String == "adopt" && ($0["subject"] as? String) != nil })
        #expect(try Self.region(daemon)["state"] as? String == "degraded")
        #expect(daemon.cli(["recover", "-r", "0", "--apply"]).status == 0)
        #expect(try Self.region(daemon)["state"] == nil)
        let after = try #require(try daemon.cli(["list"]).json() as? [[String: Any]])
        let adopted = try #require(after.first { $0["uuid"] as? String == secondUUID })
        #expect(adopted["path"] as? String == secondPath)
        #expect(adopted["size"] as? Int == 8 << 20)
        #expect(Self.head(secondPath, 22) == "guest memory of second")
        #expect(FileManager.default.fileExists(atPath: daemon.stateDirectory + "/region0.labels.before-recover"))
        #expect(daemon.cli(["create-device", "-r", "0", "-s", "2M", "--progress", "none"]).status == 0)

        // And the rebuild is what a restart finds.
        daemon.stop()
        try daemon.start(defaultRegionSize: "64M")
        #expect(try Self.region(daemon)["state"] == nil)
        let restarted = try #require(try daemon.cli(["list"]).json() as? [[String: Any]])
        #expect(restarted.count == 3)
        daemon.stop()
    }

    @Test("a deleted journal keeps the labels and every device file untouched, and no default region is made over them")
    func journalDeleted() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        #expect(daemon.cli(["create-device", "-s", "4M", "--name", "kept", "--progress", "none"]).status == 0)
        daemon.stop()
        try FileManager.default.removeItem(atPath: daemon.stateDirectory + "/ledger")
        let labels = try Data(contentsOf: URL(fileURLWithPath: daemon.stateDirectory + "/region0.labels"))
        let files = daemon.shmFiles()
        try daemon.start(defaultRegionSize: "64M")
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.isEmpty, "a default region was made over state the daemon cannot account for")
        #expect(daemon.shmFiles() == files)
        #expect(try Data(contentsOf: URL(fileURLWithPath: daemon.stateDirectory + "/region0.labels")) == labels)
        #expect(daemon.cli(["events"]).stdout.contains("\"source\":\"kept\""))
        daemon.stop()
    }

    @Test(
        "a flipped bit in a used label is repaired from the journal at start, with an event, and nothing else changes")
    func labelBitFlipRepaired() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        #expect(daemon.cli(["create-device", "-s", "4M", "--name", "vm", "--progress", "none"]).status == 0)
        let before = daemon.cli(["list", "-M"]).stdout
        daemon.stop()
        let path = daemon.stateDirectory + "/region0.labels"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Flip a bit in the device's label: in its name, "vm", which the label's checksum covers (in every slot that
        // holds it: the two-pass update leaves the first pass's copy in a freed slot).
        let names = bytes.indices.dropLast(2).filter {
            bytes[$0] == UInt8(ascii: "v") && bytes[$0 + 1] == UInt8(ascii: "m") && bytes[$0 + 2] == 0
        }
        #expect(!names.isEmpty)
        for name in names { bytes[name] ^= 0x01 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let files = daemon.shmFiles()
        try daemon.start(defaultRegionSize: "64M")
        #expect(try Self.region(daemon)["state"] == nil)
        #expect(daemon.cli(["list", "-M"]).stdout == before)
        #expect(daemon.shmFiles() == files)
        #expect(daemon.cli(["events"]).stdout.contains("\"source\":\"repair\""))
        #expect(daemon.cli(["check-labels", "-r", "0", "--state-dir", daemon.stateDirectory]).status == 0)
        daemon.stop()
    }
}
