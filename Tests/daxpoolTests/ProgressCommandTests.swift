import Foundation
import Testing

@Suite("progress on the command line", .timeLimit(.minutes(20)), .serialized)
struct ProgressCommandTests {
    /// The JSON objects on `text`'s lines; every line must be one.
    static func lines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw HarnessError("not a JSON object: \(line)")
            }
            return object
        }
    }

    static func checkMonotonic(_ events: [[String: Any]], kind: String, total: Int) {
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { $0["kind"] as? String == kind && $0["total"] as? Int == total })
        let done = events.compactMap { $0["done"] as? Int }
        #expect(done.count == events.count)
        #expect(zip(done, done.dropFirst()).allSatisfy { $0 <= $1 }, "done goes backwards: \(done)")
        #expect(events.last?["state"] as? String == "finished")
        #expect(done.last == total)
    }

    @Test("create-device without a terminal prints its prefault progress as JSON lines on stderr")
    func prefaultJSON() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "128M")
        defer { daemon.stop() }
        let created = daemon.cli(["create-device", "-s", "64M", "--name", "vm"])
        #expect(created.status == 0, "\(created.stderr)")
        let events = try Self.lines(created.stderr)
        Self.checkMonotonic(events, kind: "prefault", total: 64 << 20)
        #expect(events.allSatisfy { $0["device_name"] as? String == "vm" && $0["device"] as? String == "dax0.0" })
        let device = try #require((try created.json() as? [[String: Any]])?.first)
        #expect(events.first?["device_uuid"] as? String == device["uuid"] as? String)

        let quiet = daemon.cli(["create-device", "-s", "8M", "--progress", "none"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        let bad = daemon.cli(["create-device", "-s", "8M", "--progress", "sometimes"])
        #expect(bad.status != 0)

        // `daxpool progress` prints the retained operations as JSON lines on stdout.
        let listed = try Self.lines(daemon.cli(["progress", "-d", "vm"]).stdout)
        #expect(listed.count == 1 && listed.first?["state"] as? String == "finished")
    }

    @Test(
        "destroy-device waits for the background scrub and prints its progress as JSON lines ending at the device size",
        .enabled(if: geteuid() == 0, "needs root: hugetlb regions reserve huge pages and mount hugetlbfs")
    )
    func scrubJSON() throws {
        try QemuGuestLab.withHugePageLock {
            let daemon = try DaemonHarness()
            try daemon.start(defaultRegionSize: "0")
            defer {
                daemon.stop()
                QemuGuestLab.unmountAll(under: daemon.root)
            }
            let mountPoint = "\(daemon.root)/hugetlb/region0"
            let region = daemon.cli([
                "create-region", "--backend", "hugetlb", "--page-size", "2M", "--size", "256M", "--path", mountPoint,
                "--hvo", "off",
            ])
            try #require(region.status == 0, "\(region.stderr)")
            defer { _ = daemon.cli(["destroy-region", "0"]) }
            let created = daemon.cli(["create-device", "-r", "0", "-s", "256M", "--name", "big"])
            try #require(created.status == 0, "\(created.stderr)")
            Self.checkMonotonic(try Self.lines(created.stderr), kind: "prefault", total: 256 << 20)

            let destroyed = daemon.cli(["destroy-device", "-f", "big"])
            #expect(destroyed.status == 0, "\(destroyed.stderr)")
            let events = try Self.lines(destroyed.stderr)
            Self.checkMonotonic(events, kind: "scrub", total: 256 << 20)
            #expect(events.allSatisfy { $0["device"] as? String == "dax0.0" && $0["device_name"] as? String == "big" })
            // The command returned after the scrub: the memory is free again.
            let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
            #expect(regions.first?["available_size"] as? Int == 256 << 20)
            // The next device comes from the scrubbed pool, ready at once.
            let again = daemon.cli(["create-device", "-r", "0", "-s", "256M", "--progress", "none"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(daemon.cli(["destroy-device", "-f", "dax0.0"]).status == 0)
        }
    }

    /// The frames of a bar drawn on a terminal: each starts with a carriage return and an erase-line sequence.
    static func frames(_ terminal: String) -> [String] {
        terminal.components(separatedBy: "\r\u{1B}[2K").dropFirst().map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test("on a terminal, create-device and destroy-device redraw one progress bar line in place and end it with done")
    func terminalBar() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "128M")
        defer { daemon.stop() }
        let created = try daemon.cliOnTerminal(["create-device", "-s", "64M", "--name", "vm"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect((try created.json() as? [[String: Any]])?.first?["chardev"] as? String == "dax0.0", "stdout is JSON")
        #expect(!created.stderr.contains("{"), "a terminal gets a bar, not JSON: \(created.stderr)")
        let frames = Self.frames(created.stderr)
        #expect(frames.count >= 2, "a first and a last frame: \(created.stderr.debugDescription)")
        #expect(frames.allSatisfy { $0.hasPrefix("prefault dax0.0 (vm) [") }, "\(frames)")
        let percents = frames.compactMap { frame in
            frame.split(separator: "]").dropFirst().first?.split(separator: "%").first.flatMap {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
        }
        #expect(percents.count == frames.count && percents.first == 0 && percents.last == 100, "\(frames)")
        #expect(zip(percents, percents.dropFirst()).allSatisfy { $0 <= $1 }, "\(percents)")
        let last = try #require(frames.last)
        #expect(last.contains("[" + String(repeating: "#", count: 30) + "] 100%  64.0 MiB / 64.0 MiB"), "\(last)")
        #expect(last.hasSuffix("done"), "\(last)")
        // The terminal turns the final "\n" into "\r\n" (one Character in Swift).
        #expect(created.stderr.unicodeScalars.last == "\n", "the finished bar ends its line")

        let destroyed = try daemon.cliOnTerminal(["destroy-device", "-f", "vm"])
        #expect(destroyed.status == 0, "\(destroyed.stderr)")
        let scrub = Self.frames(destroyed.stderr)
        #expect(!scrub.isEmpty && scrub.allSatisfy { $0.hasPrefix("scrub dax0.0 (vm) [") }, "\(scrub)")
        #expect(scrub.last?.contains("100%  64.0 MiB / 64.0 MiB") == true && scrub.last?.hasSuffix("done") == true)

        let forced = daemon.cli(["create-device", "-s", "8M", "--progress", "bar"])
        #expect(forced.status == 0)
        #expect(Self.frames(forced.stderr).last?.hasSuffix("done") == true, "--progress bar draws without a terminal")
    }
}
