import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/install`, the systemd unit it installs, the example configuration, the completions and `list --human`.
@Suite("installing daxpool as a daemon", .timeLimit(.minutes(20)))
struct InstallTests {
    /// The repository: the unit, the example and the install script are read from it.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Options that give a unit a mount namespace of its own, whose mounts never reach the host's (systemd.exec(5)).
    static let mountNamespaceOptions = [
        "ProtectSystem", "ProtectHome", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "PrivateTmp",
        "PrivateDevices", "PrivateMounts", "PrivateNetwork", "PrivateIPC", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectProc", "ProcSubset", "BindPaths",
        "BindReadOnlyPaths", "TemporaryFileSystem", "MountFlags", "RootDirectory", "RootImage",
    ]

    /// A fresh directory under /tmp, removed (after unmounting anything below it) by `cleanUp`.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = "/tmp/daxpool-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func cleanUp(_ paths: String...) {
        for path in paths {
            DaemonHarness.unmountAll(under: path)
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Runs a program to completion.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil
    ) throws -> DaemonHarness.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (outData, errData) = DaemonHarness.drain(
            out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor)
        process.waitUntilExit()
        return DaemonHarness.Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `scripts/install` with the test's binary (a release build would take minutes).
    static func install(_ arguments: [String]) throws -> DaemonHarness.Result {
        try run("\(repository)/scripts/install", arguments + ["--binary", DaemonHarness.binary], directory: repository)
    }

    static func mode(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & 0o7777 : nil
    }

    /// Stops a daemon with SIGTERM, as systemd does, and returns its exit status; one still running after 30 s is
    /// killed (an issue is recorded), so that a daemon hung in its shutdown cannot hang the suite.
    static func terminate(_ process: Process) -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<1200 where process.isRunning { usleep(25_000) }
        if process.isRunning {
            Issue.record("the daemon did not exit within 30 s of SIGTERM")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits until no background work is left in any region (pools filled as far as they go, nothing pending
    /// scrub), so that a stop interrupts nothing.
    static func waitUntilSettled(_ cli: ([String]) -> DaemonHarness.Result) {
        for _ in 0..<600 {
            let regions = (try? cli(["list", "-R"]).json()) as? [[String: Any]] ?? []
            let settled = regions.allSatisfy { region in
                let pool = region["pool"] as? [String: Any]
                let target = (pool?["target"] as? [Int] ?? []).reduce(0, +)
                let ready = pool?["ready_bytes"] as? Int ?? 0
                return (region["pending_scrub_size"] as? Int ?? 0) == 0 && ready >= target
            }
            if settled { return }
            usleep(50_000)
        }
        Issue.record("background work did not settle within 30 s")
    }

    /// The unit's `Key=value` lines (comments and section headers left out).
    static func directives(_ unit: String) -> [(key: String, value: String)] {
        unit.split(separator: "\n").compactMap { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.hasPrefix("#"), !text.hasPrefix("["), let equals = text.firstIndex(of: "=") else { return nil }
            return (String(text[..<equals]), String(text[text.index(after: equals)...]))
        }
    }

    /// The subcommands `daxpool --help` lists.
    static func subcommands(_ arguments: [String] = []) throws -> [String] {
        let help = try run(DaemonHarness.binary, arguments + ["--help"]).stdout
        guard let start = help.range(of: "SUBCOMMANDS:") else { return [] }
        return help[start.upperBound...].split(separator: "\n").compactMap { line in
            // A subcommand's line is indented by two spaces; its wrapped description by more.
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first,
                word.allSatisfy({ $0.isLowercase || $0 == "-" })
            else { return nil }
            return String(word)
        }
    }

    @Test("scripts/install puts the binary, unit, configuration, completions and README in their places under DESTDIR")
    func installTree() throws {
        let destdir = try Self.temporaryDirectory("destdir")
        defer { Self.cleanUp(destdir) }
        let result = try Self.install(["--destdir", destdir])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let expected: [(String, mode_t)] = [
            ("usr/local/bin/daxpool", 0o755),
            ("usr/local/lib/systemd/system/daxpool.service", 0o644),
            ("etc/daxpool/daxpool.json", 0o644),
            ("usr/local/share/daxpool/daxpool.json", 0o644),
            ("usr/local/share/doc/daxpool/README.md", 0o644),
            ("usr/local/share/bash-completion/completions/daxpool", 0o644),
            ("usr/local/share/zsh/site-functions/_daxpool", 0o644),
            ("usr/local/share/fish/vendor_completions.d/daxpool.fish", 0o644),
        ]
        for (path, mode) in expected {
            #expect(Self.mode("\(destdir)/\(path)") == mode, "\(path)")
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(destdir)/\(path)")[.size] as? Int) ?? 0
            #expect(size > 0, "\(path) is empty")
        }
        // Nothing outside DESTDIR's prefix and /etc.
        #expect(try FileManager.default.contentsOfDirectory(atPath: destdir).sorted() == ["etc", "usr"])
        let example = try Data(contentsOf: URL(fileURLWithPath: "\(Self.repository)/dist/daxpool.json"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(destdir)/etc/daxpool/daxpool.json")) == example)
        let unit = try String(
            contentsOfFile: "\(destdir)/usr/local/lib/systemd/system/daxpool.service", encoding: .utf8)
        let execStart = try #require(Self.directives(unit).first { $0.key == "ExecStart" }?.value)
        #expect(execStart.hasPrefix("/usr/local/bin/daxpool serve --config /etc/daxpool/daxpool.json"))

        // A second install keeps the operator's configuration.
        try Data("{\"log_level\": \"debug\"}".utf8).write(
            to: URL(fileURLWithPath: "\(destdir)/etc/daxpool/daxpool.json"))
        #expect(try Self.install(["--destdir", destdir]).status == 0)
        #expect(try String(contentsOfFile: "\(destdir)/etc/daxpool/daxpool.json", encoding: .utf8).contains("debug"))

        // Another prefix moves the binary and the paths the unit names with it.
        let other = try Self.install(["--destdir", destdir, "--prefix", "/usr", "--unit-dir", "/etc/systemd/system"])
        #expect(other.status == 0, "\(other.stderr)")
        let moved = try String(contentsOfFile: "\(destdir)/etc/systemd/system/daxpool.service", encoding: .utf8)
        #expect(
            Self.directives(moved).first { $0.key == "ExecStart" }?.value.hasPrefix("/usr/bin/daxpool serve") == true)
        #expect(Self.mode("\(destdir)/usr/share/bash-completion/completions/daxpool") == 0o644)
        #expect(try Self.install(["--destdir", destdir, "--prefix", "relative"]).status != 0)
    }

    @Test(
        "systemd-analyze verify accepts the installed unit, which keeps the host's mount namespace",
        .enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed"))
    func unitVerifies() throws {
        let root = try Self.temporaryDirectory("unit")
        defer { Self.cleanUp(root) }
        // Installed without DESTDIR under a temporary prefix, so that the unit names a binary that exists.
        let installed = try Self.install(["--prefix", "\(root)/usr", "--sysconfdir", "\(root)/etc"])
        #expect(installed.status == 0, "\(installed.stderr)")
        let unit = "\(root)/usr/lib/systemd/system/daxpool.service"
        let verified = try Self.run(try #require(Self.systemdAnalyze), ["verify", unit], directory: root)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stderr.isEmpty, "\(verified.stderr)")

        let directives = Self.directives(try String(contentsOfFile: unit, encoding: .utf8))
        func value(_ key: String) -> String? { directives.first { $0.key == key }?.value }
        #expect(value("Type") == "notify")
        #expect(value("RuntimeDirectory") == "daxpool")
        #expect(value("RuntimeDirectoryPreserve") == "yes")
        #expect(value("StateDirectory") == "daxpool")
        #expect(
            Set((value("CapabilityBoundingSet") ?? "").split(separator: " ").map(String.init))
                == ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"])
        for key in ["NoNewPrivileges", "ProtectHostname", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality"] {
            #expect(value(key) == "yes", "\(key)")
        }
        // The daemon's tmpfs and hugetlbfs mounts must reach the host, where the VMMs open the device files.
        for key in Self.mountNamespaceOptions {
            #expect(value(key) == nil, "\(key)= would give the daemon a mount namespace of its own")
        }
        // ProtectClock= implies a device allow-list that would shut out /dev/daxR.N.
        #expect(value("ProtectClock") == nil && value("DeviceAllow") == nil && value("DevicePolicy") == nil)
    }

    @Test("the unit's ExecStart runs the installed binary on the example configuration: it says READY=1 and answers")
    func execStartServes() throws {
        let destdir = try Self.temporaryDirectory("execstart")
        let shmRoot = "/dev/shm/daxpool-execstart-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.cleanUp(destdir, shmRoot) }
        #expect(try Self.install(["--destdir", destdir]).status == 0)
        // The example's shm paths, redirected to a directory of this test's own.
        let example = try String(contentsOfFile: "\(destdir)/etc/daxpool/daxpool.json", encoding: .utf8)
        let config = "\(destdir)/etc/daxpool/test.json"
        try Data(example.replacingOccurrences(of: "/dev/shm/daxpool", with: shmRoot).utf8)
            .write(to: URL(fileURLWithPath: config))
        let unit = try String(
            contentsOfFile: "\(destdir)/usr/local/lib/systemd/system/daxpool.service", encoding: .utf8)
        let execStart = try #require(Self.directives(unit).first { $0.key == "ExecStart" }?.value)
        // What systemd would run, with the unit's directories (RuntimeDirectory=, StateDirectory=) under DESTDIR.
        let redirect = [
            ("/usr/local/bin/daxpool", "\(destdir)/usr/local/bin/daxpool"),
            ("/etc/daxpool/daxpool.json", config),
            ("/run/daxpool", "\(destdir)/run/daxpool"),
            ("/var/lib/daxpool", "\(destdir)/var/lib/daxpool"),
        ]
        let words = execStart.split(separator: " ").map { word in
            redirect.reduce(String(word)) { text, pair in
                text.hasPrefix(pair.0) ? pair.1 + text.dropFirst(pair.0.count) : text
            }
        }
        #expect(words.count > 2 && words[1] == "serve")
        let socketPath = "\(destdir)/run/daxpool/daxpool.sock"
        #expect(words.contains(socketPath) && words.contains("\(destdir)/var/lib/daxpool"))
        for directory in ["run/daxpool", "var/lib/daxpool"] {
            try FileManager.default.createDirectory(
                atPath: "\(destdir)/\(directory)", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }

        let client = try SocketClient(socket: socketPath)
        func serve() throws -> (Process, NotifySocket) {
            let notify = try NotifySocket(path: "\(destdir)/notify-\(UInt32.random(in: 0...UInt32.max))")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: words[0])
            process.arguments = Array(words.dropFirst())
            process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": notify.path]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            return (process, notify)
        }
        func stop(_ process: Process) -> Int32 {
            Self.waitUntilSettled(client.cli)
            return Self.terminate(process)
        }

        let (first, notify) = try serve()
        // A failed expectation below must not leave a daemon behind.
        defer { if first.isRunning { _ = Self.terminate(first) } }
        let ready = notify.receive(seconds: 30)
        #expect(ready?.split(separator: "\n").contains("READY=1") == true, "\(ready ?? "nothing")")
        let listed = client.cli(["list", "-R"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let regions = try #require(try listed.json() as? [[String: Any]])
        // The example's one region, made from the file (and no embedded default region beside it).
        #expect(regions.count == 1)
        #expect(regions.first?["path"] as? String == "\(shmRoot)/vms")
        #expect(regions.first?["size"] as? Int == 1 << 30)
        #expect((regions.first?["pool"] as? [String: Any])?["target"] as? [Int] == [256 << 20, 256 << 20])
        #expect(client.cli(["create-device", "-s", "64M", "--name", "vm1", "--progress", "none"]).status == 0)
        #expect(stop(first) == 0)

        // The next start finds the region in its state and makes no other.
        let (second, notifyAgain) = try serve()
        defer { if second.isRunning { _ = Self.terminate(second) } }
        #expect(notifyAgain.receive(seconds: 30)?.contains("READY=1") == true)
        let again = try #require(try client.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(again.map { $0["id"] as? Int } == [0])
        let devices = try #require(try client.cli(["list"]).json() as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["vm1"])
        #expect(client.cli(["destroy-device", "-f", "vm1", "--progress", "json"]).status == 0)
        #expect(stop(second) == 0)
    }

    /// `daxpool serve` with a configuration file and nothing else of its own; returns the result and the directories.
    static func serveRefused(config document: String, extra: [String] = []) throws -> (DaemonHarness.Result, String) {
        let root = try temporaryDirectory("badconfig")
        let config = "\(root)/daxpool.json"
        try Data(document.utf8).write(to: URL(fileURLWithPath: config))
        let result = try run(
            DaemonHarness.binary,
            [
                "serve", "--config", config, "--socket", "\(root)/run/daxpool.sock", "--state-dir", "\(root)/state",
                "--shm-root", "\(root)/shm",
            ] + extra)
        return (result, root)
    }

    @Test("serve refuses a config with an unknown key, a bad size or a wrong type, naming the key, and makes nothing")
    func strictConfig() throws {
        for (document, key) in [
            (#"{"scrub_thread": 2}"#, "unknown key 'scrub_thread'"),
            (#"{"regions": [{"backend": "shm", "path": "/dev/shm/x", "size": "1GB"}]}"#, "'regions[0].size'"),
            (#"{"idle_timeout": "30"}"#, "'idle_timeout' must be a whole number"),
            (#"{"socket": {"path": "/run/x.sock", "mod": "0600"}}"#, "unknown key 'socket.mod'"),
            (#"{"default_region_size": "1 G"}"#, "'default_region_size'"),
            (#"{"keep_free": "1G"}"#, "go with lend_idle"),
        ] {
            let (result, root) = try Self.serveRefused(config: document)
            defer { Self.cleanUp(root) }
            #expect(result.status != 0, "\(document)")
            let error = try result.error()
            #expect(error["code"] as? String == "bad_config", "\(document): \(result.stderr)")
            #expect((error["message"] as? String)?.contains(key) == true, "\(document): \(result.stderr)")
            #expect((error["message"] as? String)?.contains("daxpool.json") == true, "\(result.stderr)")
            // Refused before anything was touched: no socket directory, state directory or shm root.
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["daxpool.json"], "\(document)")
        }
    }

    @Test("options on the command line override the config file's keys")
    func flagsOverrideFile() throws {
        let root = try Self.temporaryDirectory("override")
        let shmRoot = "/dev/shm/daxpool-override-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.cleanUp(root, shmRoot) }
        let config = "\(root)/daxpool.json"
        try Data(
            """
            {"socket": {"path": "\(root)/file/daxpool.sock"}, "state_dir": "\(root)/state", "shm_root": "\(shmRoot)",
             "default_region_size": "128M", "log_level": "error", "lend_idle": true, "keep_free": "1G"}
            """.utf8
        ).write(to: URL(fileURLWithPath: config))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonHarness.binary)
        process.arguments = [
            "serve", "--config", config, "--socket", "\(root)/flag/daxpool.sock", "--default-region-size", "64M",
            "--no-lend-idle",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try DaemonHarness.run(process, waitingForReadiness: "daxpool serve --config")
        defer {
            _ = Self.terminate(process)
        }
        let client = try SocketClient(socket: "\(root)/flag/daxpool.sock")
        #expect(client.cli(["list", "-R"]).status == 0, "the daemon does not answer on the --socket path")
        #expect(!FileManager.default.fileExists(atPath: "\(root)/file/daxpool.sock"))
        // The file's state directory and shm root (no flag for them), the flag's region size.
        #expect(FileManager.default.fileExists(atPath: "\(root)/state/ledger"))
        let regions = try #require(try client.cli(["list", "-R"]).json() as? [[String: Any]])
        #expect(regions.first?["size"] as? Int == 64 << 20)
        #expect((regions.first?["path"] as? String)?.hasPrefix(shmRoot) == true)
    }

    @Test("the completion scripts for bash, zsh and fish name every subcommand")
    func completions() throws {
        let subcommands = try Self.subcommands()
        #expect(subcommands.count >= 25, "\(subcommands)")
        #expect(subcommands.contains("serve") && subcommands.contains("live-update"))
        let nested = try Self.subcommands(["live-update"])
        #expect(!nested.isEmpty)
        for shell in ["bash", "zsh", "fish"] {
            let result = try Self.run(DaemonHarness.binary, ["--generate-completion-script", shell])
            #expect(result.status == 0, "\(shell): \(result.stderr)")
            for name in subcommands + nested {
                #expect(result.stdout.contains(name), "\(shell) completion lacks \(name)")
            }
            // Options of the subcommands too, such as serve's --config and create-device's --size.
            #expect(result.stdout.contains("config") && result.stdout.contains("keep-free"), "\(shell)")
        }
        let bash = try Self.run(DaemonHarness.binary, ["--generate-completion-script", "bash"]).stdout
        let syntax = try Self.run("/bin/bash", ["-n", "-c", bash])
        #expect(syntax.status == 0, "\(syntax.stderr)")
    }

    @Test("list --human shows every size as a size and every offset in hex, in regions, devices and mappings")
    func listHuman() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        try daemon.start(defaultRegionSize: "256M")
        #expect(daemon.cli(["set-pool", "-r", "0", "4Mx2"]).status == 0)
        let created = daemon.cli(["create-device", "-s", "16M", "--name", "vm1", "--progress", "none"])
        #expect(created.status == 0, "\(created.stderr)")
        // A device whose owner grew its file shows excess_size.
        let path = try #require((try created.json() as? [[String: Any]])?.first?["path"] as? String)
        #expect(truncate(path, 20 << 20) == 0)

        let plain = try #require(try daemon.cli(["list", "-R", "-M"]).json() as? [[String: Any]])
        let human = daemon.cli(["list", "-R", "-M", "-u"])
        #expect(human.status == 0, "\(human.stderr)")
        let rendered = try #require(try human.json() as? [[String: Any]])

        // Integers left after -u may only be counts and ids.
        let counts: Set<String> = [
            "id", "target_node", "badblock_count", "nslot", "free", "owner", "pid", "uid", "online_memblocks",
            "total_memblocks", "numa_node",
        ]
        var sizes: [String: String] = [:]
        func walk(_ value: ListValue, key: String) {
            switch value {
            case .object(let object):
                for (name, field) in object { walk(field, key: name) }
            case .array(let array):
                for item in array { walk(item, key: key) }
            case .integer(let number):
                #expect(counts.contains(key), "'\(key)' is still a number under --human: \(number)")
            case .string(let text):
                if text.hasSuffix("B)") { sizes[key] = text }
            case .bool, .null:
                break
            }
        }
        walk(try JSONDecoder().decode(ListValue.self, from: Data(human.stdout.utf8)), key: "")
        for key in [
            "size", "available_size", "largest_available_extent", "page_size", "ready_bytes", "target",
            "memory", "bytes", "bytes_per_tib", "excess_size",
        ] {
            #expect(sizes[key] != nil, "no human '\(key)' in \(human.stdout)")
        }
        #expect(sizes["size"]?.hasPrefix("256.00 MiB") == true || sizes.values.contains { $0.hasPrefix("256.00 MiB") })
        // Mappings keep their offsets, in hex.
        let mapping = (rendered.first?["devices"] as? [[String: Any]])?.first?["mappings"] as? [[String: Any]]
        #expect((mapping?.first?["page_offset"] as? String)?.hasPrefix("0x") == true)
        // Without -u nothing changes.
        #expect(plain.first?["size"] as? Int == 256 << 20)
        #expect(daemon.cli(["destroy-device", "-f", "vm1", "--progress", "json"]).status == 0)
        Self.waitUntilSettled { daemon.cli($0) }
    }
}

/// The CLI pointed at a daemon the test started itself.
struct SocketClient {
    let harness: DaemonHarness
    let socket: String

    init(socket: String) throws {
        harness = try DaemonHarness()
        self.socket = socket
    }

    func cli(_ arguments: [String]) -> DaemonHarness.Result { harness.cli(arguments, socket: socket) }
}

/// A JSON value as `list` prints it, to walk every field.
indirect enum ListValue: Decodable {
    case object([String: ListValue])
    case array([ListValue])
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ListValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ListValue].self))
        }
    }
}
