import Foundation
import Testing

/// The kernel- and ndctl-written fixtures under `Tests/Fixtures/nvdimm-labels`, found relative to this file.
enum NVDIMMLabelFixtures {
    static let directory: String = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/nvdimm-labels")
        .standardizedFileURL.path

    /// The 128 KiB area QEMU's NVDIMM held after `init-labels`, three `create-namespace`s and later changes.
    static let area = "\(directory)/label-area-128K-v1.1-3ns.bin"

    static var isPresent: Bool { FileManager.default.fileExists(atPath: area) }

    static let absent: Comment = "label fixtures not found in \(directory); they live in Tests/Fixtures/nvdimm-labels"

    /// A captured `ndctl read-labels -j` output (console noise before the JSON removed).
    static func json(_ name: String) throws -> Any {
        let text = try String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)
        let start = try #require(text.firstIndex { $0 == "[" || $0 == "{" })
        return try JSONSerialization.jsonObject(with: Data(text[start...].utf8))
    }

    /// The JSON `command` printed the last time the captured guest console ran it (an object: ndctl prints
    /// one area unwrapped on a terminal), wrapped in an array like the `.json` captures.
    static func lastConsoleJSON(of command: String) throws -> Any {
        let text = try String(contentsOfFile: "\(directory)/console-qemu-nvdimm-label-128K.txt", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.lastIndex { $0 == "$ \(command)" })
        let body = lines[(start + 1)...]
        let end = try #require(body.firstIndex { $0.hasPrefix("}") })
        let object = body[...end].joined(separator: "\n")
        return [try JSONSerialization.jsonObject(with: Data(object.utf8))]
    }
}

@Suite("label tools: read-labels, check-labels, init-labels", .timeLimit(.minutes(20)), .serialized)
struct LabelToolsTests {
    typealias Fixtures = NVDIMMLabelFixtures

    /// `{"index", "label"}` of the first area in a read-labels output, for comparison across tools.
    static func indexAndLabels(_ json: Any) throws -> NSDictionary {
        let areas = try #require(json as? [[String: Any]])
        let area = try #require(areas.first)
        return ["index": area["index"] ?? NSNull(), "label": area["label"] ?? NSNull()] as NSDictionary
    }

    static func scratch() throws -> String {
        let path = "/tmp/daxpool-labeltools-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(
        "read-labels -u of the area the real kernel wrote prints exactly what ndctl read-labels -j -u printed for it",
        .enabled(if: Fixtures.isPresent, Fixtures.absent))
    func readsKernelArea() throws {
        let daemon = try DaemonHarness()
        let human = daemon.cli(["read-labels", "--file", Fixtures.area, "-u"])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(
            try Self.indexAndLabels(human.json())
                == Self.indexAndLabels(Fixtures.lastConsoleJSON(of: "ndctl read-labels -j -u nmem0")))

        let plain = try #require(
            try daemon.cli(["read-labels", "--file", Fixtures.area, "-j"]).json() as? [[String: Any]])
        let labels = try #require(plain.first?["label"] as? [[String: Any]])
        #expect(labels.count == 4)
        #expect(labels.map { $0["slot"] as? Int } == [0, 1, 2, 3])
        #expect(labels[2]["name"] as? String == "second" && labels[2]["dpa"] as? Int == 0x1000_0000)
        #expect(labels[0]["flags"] as? Int == 8 && labels[3]["isetcookie"] as? Int == 10_248_187_106_440_278)
        #expect(labels.allSatisfy { $0["type_guid"] == nil && $0["abstraction_guid"] == nil })
        let index = try #require(plain.first?["index"] as? [[String: Any]])
        #expect(index.map { $0["seq"] as? Int } == [2, 3])
        #expect(index.allSatisfy { $0["signature"] as? String == "NAMESPACE_INDEX" && $0["nslot"] as? Int == 1020 })
        #expect(plain.first?["dev"] as? String == Fixtures.area)
    }

    @Test(
        "check-labels explains the kernel's area: current block, live namespaces, stale slots ignored",
        .enabled(if: Fixtures.isPresent, Fixtures.absent))
    func checksKernelArea() throws {
        let daemon = try DaemonHarness()
        let result = daemon.cli(["check-labels", "--file", Fixtures.area])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try result.json() as? [String: Any])
        #expect(report["valid"] as? Bool == true)
        #expect(report["version"] as? String == "1.1" && report["nslot"] as? Int == 1020)
        #expect(report["current_block"] as? Int == 1)
        let namespaces = try #require(report["namespaces"] as? [[String: Any]])
        #expect(namespaces.map { $0["name"] as? String } == ["second", "third"])
        #expect(
            namespaces.map { $0["uuid"] as? String }
                == ["5b405e8d-700e-4499-9e09-1967d5637178", "9ee6e7bc-130d-4dda-9cf4-a6871499a014"])
        #expect(namespaces.map { $0["size"] as? Int } == [0x1000_0000, 0x800_0000])
    }

    @Test(
        "init-labels writes the empty area ndctl init-labels writes, byte for byte as read-labels sees it",
        .enabled(if: Fixtures.isPresent, Fixtures.absent))
    func initLikeNdctl() throws {
        let daemon = try DaemonHarness()
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = "\(root)/area"
        let created = daemon.cli(["init-labels", "--file", file])
        #expect(created.status == 0, "\(created.stderr)")
        #expect((try created.json() as? [String: Any])?["nslot"] as? Int == 1020)
        let dump = daemon.cli(["read-labels", "--file", file])
        #expect(
            try Self.indexAndLabels(dump.json())
                == Self.indexAndLabels(Fixtures.json("nvdimm-read-labels-nmem0-after-init.json")))
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.size] as? NSNumber)?.intValue == 128 << 10)

        // A valid area is not overwritten without -f.
        let refused = daemon.cli(["init-labels", "--file", file, "-V", "1.2"])
        #expect(refused.status != 0)
        #expect(try refused.error()["code"] as? String == "labels_valid")
        let forced = daemon.cli(["init-labels", "--file", file, "-V", "1.2", "-f"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let report = try #require(try daemon.cli(["check-labels", "--file", file]).json() as? [String: Any])
        #expect(report["version"] as? String == "1.2" && report["nslot"] as? Int == 510)
    }

    @Test("init-labels --namespace writes namespaces with the two-pass update that read-labels and check-labels show")
    func initWithNamespaces() throws {
        let daemon = try DaemonHarness()
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = "\(root)/nvdimm.img"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: 4 << 20)
        try handle.close()
        let uuid = "5e1b7a5c-3d0e-4c2a-9b7f-0a1b2c3d4e51"
        let area = ["--file", file, "--offset", "end", "--size", "128K"]
        let created = daemon.cli(
            ["init-labels"] + area + [
                "-V", "1.2", "--isetcookie", "0x2468ac00123456", "--namespace",
                "uuid=\(uuid),name=one,dpa=0,size=2M,align=2M", "--namespace", "name=two,dpa=0x200000,size=1M",
            ])
        #expect(created.status == 0, "\(created.stderr)")

        let dump = try #require(try daemon.cli(["read-labels"] + area).json() as? [[String: Any]])
        let labels = try #require(dump.first?["label"] as? [[String: Any]])
        // Pass 1 left UPDATING labels in slots 0 and 1 (freed), pass 2 the settled ones in 2 and 3.
        #expect(labels.map { $0["flags"] as? Int } == [8, 8, 0, 0])
        #expect(labels.allSatisfy { $0["abstraction_guid"] as? String == "9c6da897-dd3c-da4e-986f-5068b4f80088" })
        #expect(labels.allSatisfy { $0["type_guid"] as? String == "79d3f066-f3b4-7440-ac43-0d3318b78cdb" })
        #expect(labels.allSatisfy { $0["isetcookie"] as? Int == 0x2468_ac00_1234_56 })
        #expect(labels.contains { $0["uuid"] as? String == uuid && $0["name"] as? String == "one" })

        let report = try #require(try daemon.cli(["check-labels"] + area).json() as? [String: Any])
        let namespaces = try #require(report["namespaces"] as? [[String: Any]])
        #expect(Set(namespaces.compactMap { $0["name"] as? String }) == ["one", "two"])
        #expect(namespaces.first { $0["name"] as? String == "one" }?["align"] as? Int == 2 << 20)
        #expect(report["free"] as? Int == 508)

        // The area sits in the last 128 KiB: the rest of the file is untouched.
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(data.prefix((4 << 20) - (128 << 10)).allSatisfy { $0 == 0 })
    }

    @Test(
        "check-labels exits non-zero and says why when a live label is damaged, and only warns for one bad index block")
    func damagedArea() throws {
        let daemon = try DaemonHarness()
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = "\(root)/area"
        #expect(
            daemon.cli(["init-labels", "--file", file, "-V", "1.2", "--namespace", "name=x,dpa=0,size=4K"]).status == 0)

        // After the update block 0 is current again; damage block 1 (its bitmap), as a torn index write would.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[256 + 100] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let warned = daemon.cli(["check-labels", "--file", file])
        #expect(warned.status == 0, "\(warned.stderr)")
        let warnings = try #require((try warned.json() as? [String: Any])?["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("index block 1 is invalid") })

        // The live label of "x" is in slot 1 (written by pass 2); flip a bit of its name.
        bytes[512 + 256 + 20] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let failed = daemon.cli(["check-labels", "--file", file])
        #expect(failed.status != 0)
        let error = try failed.error()
        #expect(error["code"] as? String == "invalid_labels")
        #expect((error["message"] as? String)?.contains("slot 1 is in use but its label is invalid") == true)
    }

    @Test("list -R shows each region's label area, read-labels -r reads it, and its free slots follow the devices")
    func daemonLabelArea() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        defer { daemon.stop() }
        func area() throws -> [String: Any] {
            let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
            return try #require(regions.first?["label_area"] as? [String: Any])
        }
        let empty = try area()
        #expect(empty["path"] as? String == "\(daemon.stateDirectory)/region0.labels")
        #expect(empty["offset"] as? Int == 0 && empty["size"] as? Int == 128 << 10)
        #expect(empty["version"] as? String == "1.2" && empty["nslot"] as? Int == 510 && empty["free"] as? Int == 510)

        #expect(daemon.cli(["create-device", "-s", "4M", "--name", "labelled"]).status == 0)
        #expect(try area()["free"] as? Int == 509)
        let dump = try #require(
            try daemon.cli(["read-labels", "-r", "0", "--state-dir", daemon.stateDirectory]).json() as? [[String: Any]])
        #expect(dump.first?["dev"] as? String == "region0")
        let labels = try #require(dump.first?["label"] as? [[String: Any]])
        let settled = try #require(labels.first { $0["flags"] as? Int == 0 })
        #expect(settled["name"] as? String == "labelled" && settled["rawsize"] as? Int == 4 << 20)

        daemon.stop()
        try daemon.start(defaultRegionSize: "64M")
        let devices = try #require(try daemon.cli(["list"]).json() as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["labelled"])
    }

    @Test("a full label area answers 507 label_area_full and changes nothing; destroying a device makes room")
    func daemonLabelAreaFull() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M", extra: ["--label-area-size", "4K"])
        defer { daemon.stop() }
        let regions = try #require(try daemon.cli(["list", "-R"]).json() as? [[String: Any]])
        let area = try #require(regions.first?["label_area"] as? [String: Any])
        #expect(area["size"] as? Int == 4 << 10)
        let slots = try #require(area["nslot"] as? Int)
        // Each device takes one label; an update needs free slots for its new labels, so at most `slots` fit.
        var created = 0
        var refusal: DaemonHarness.Result?
        for index in 0..<(slots + 1) {
            let result = daemon.cli(["create-device", "-s", "2M", "--name", "d\(index)", "--progress", "none"])
            if result.status != 0 {
                refusal = result
                break
            }
            created += 1
        }
        let refused = try #require(refusal, "the area of \(slots) slots never filled")
        let error = try refused.error()
        #expect(error["code"] as? String == "label_area_full")
        #expect(error["status"] as? Int == 507)
        #expect((error["message"] as? String)?.contains("nothing was changed") == true)
        #expect(created >= 1 && created <= slots)

        let listing = daemon.cli(["list", "-M"]).stdout
        let labels = try Data(contentsOf: URL(fileURLWithPath: "\(daemon.stateDirectory)/region0.labels"))
        let files = daemon.shmFiles()
        #expect(daemon.cli(["create-device", "-s", "2M", "--name", "again"]).status != 0)
        #expect(daemon.cli(["list", "-M"]).stdout == listing)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(daemon.stateDirectory)/region0.labels")) == labels)
        #expect(daemon.shmFiles() == files)

        #expect(daemon.cli(["destroy-device", "-f", "d0"]).status == 0)
        #expect(daemon.cli(["create-device", "-s", "2M", "--name", "again"]).status == 0)
        daemon.stop()
        try daemon.start(defaultRegionSize: "64M", extra: ["--label-area-size", "4K"])
        let devices = try #require(try daemon.cli(["list"]).json() as? [[String: Any]])
        #expect(devices.count == created)
        #expect(devices.contains { $0["name"] as? String == "again" })
    }

    @Test("serve refuses a label area size it cannot use, before touching the state directory")
    func badLabelAreaSize() throws {
        for size in ["1K", "3000", "32M", "lots"] {
            let daemon = try DaemonHarness()
            #expect(throws: (any Error).self, "--label-area-size \(size)") {
                try daemon.start(defaultRegionSize: "64M", extra: ["--label-area-size", size])
            }
            daemon.stop()
        }
    }
}
