import Foundation
import Testing

/// README's "Boot a VM from it", verbatim: the device README's "Create a device" makes, the documented QEMU command
/// line as README prints it (run by bash, `daxpool` being this build), the kernel and initrd `lab/setup.sh` caches,
/// the guest coming up on the device's memory, and README's clean-up.
@Suite(
    "README's Boot a VM walkthrough, verbatim", .serialized, .timeLimit(.minutes(20)),
    .enabled(if: ReadmeBoot.missing == nil, ReadmeBoot.skipReason)
)
struct ReadmeBootTests {
    @Test("the README's QEMU command boots the lab's kernel and initrd on the README's device, which holds its RAM")
    func bootsVerbatim() throws {
        let readme = try ReadmeBoot.readme()
        let boot = try #require(ReadmeBoot.section("## Boot a VM from it", in: readme))
        let blocks = ReadmeBoot.shellBlocks(in: boot)
        try #require(blocks.count == 2, "README's Boot section has the setup block and the QEMU block: \(blocks)")
        #expect(blocks[0] == "sudo lab/setup.sh", "the one documented command that fetches the kernel and the initrd")
        let qemu = blocks[1]
        #expect(qemu.contains("-accel tcg -cpu max -smp 1"), "the lab's QEMU core (lab/README.md)")
        for path in ReadmeBoot.cachePaths {
            #expect(qemu.contains(path), "the QEMU line boots \(path), where lab/setup.sh puts it")
        }

        let create = try #require(ReadmeBoot.section("## Create a device", in: readme))
        let createLine = try #require(
            create.split(separator: "\n").first { $0.hasPrefix("daxpool create-device") }, "README creates vm1")
        let createArguments = createLine.split(separator: "#")[0].split(separator: " ").dropFirst().map(String.init)
        #expect(createArguments == ["create-device", "-s", "512M", "--name", "vm1"])

        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "1G")
        defer { daemon.stop() }
        let created = daemon.cli(createArguments)
        try #require(created.status == 0, "\(created.stderr)")
        let device = try #require((try created.json() as? [[String: Any]])?.first)
        let path = try #require(device["path"] as? String)

        let (status, console) = try ReadmeBoot.runHoldingLabLock(qemu, daemon: daemon)
        #expect(status == 0, "QEMU exited \(status):\n\(console.suffix(3000))")
        #expect(console.contains("LAB: init done"), "the guest came up:\n\(console.suffix(3000))")
        let written = try ReadmeBoot.nonZeroPages(path)
        #expect(written > 1000, "the guest's RAM was the device's file: \(written) of its pages were written")

        let destroyed = daemon.cli(["destroy-device", "-f", "vm1"])
        #expect(destroyed.status == 0, "README's clean-up: \(destroyed.stderr)")
    }
}

/// README reading and the lab pieces the walkthrough needs.
enum ReadmeBoot {
    /// The kernel and initrd README's QEMU line names, as `lab/setup.sh` links them (its default `LAB_DIR`).
    static let cachePaths = ["/var/tmp/daxpool-lab/vmlinuz", "/var/tmp/daxpool-lab/initrd.img"]

    /// The repository's root.
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// What is missing to run the walkthrough, or `nil`.
    static var missing: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let qemu = path.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/qemu-system-x86_64")
        }
        if !qemu { return "qemu-system-x86_64 is not installed" }
        if let absent = cachePaths.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
            return "\(absent) is missing"
        }
        return nil
    }

    static var skipReason: Comment {
        "\(missing ?? "the lab is ready"): run lab/setup.sh (as README's Boot a VM from it says)"
    }

    static func readme() throws -> String {
        try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// The text from `heading` to the next heading of the same level.
    static func section(_ heading: String, in text: String) -> String? {
        guard let start = text.range(of: "\n\(heading)\n") else { return nil }
        let rest = text[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    /// The contents of the section's ```sh blocks.
    static func shellBlocks(in section: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```sh" {
                current = []
            } else if let lines = current, line == "```" {
                blocks.append(lines.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// Runs `command` with bash, `daxpool` being this build talking to `daemon`, holding `$LAB_DIR/qemu.lock` as the
    /// lab's own guests do (one guest at a time); returns the exit status and the console.
    static func runHoldingLabLock(_ command: String, daemon: DaemonHarness) throws -> (Int32, String) {
        let lock = open("/var/tmp/daxpool-lab/qemu.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw HarnessError("cannot open the lab's QEMU lock: \(errno)") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        let script = "daxpool() { '\(DaemonHarness.binary)' \"$@\"; }\n" + command
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "5", "300", "/bin/bash", "-c", script]
        var environment = ProcessInfo.processInfo.environment
        environment["DAXPOOL_SOCKET"] = daemon.socket
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let (data, _) = DaemonHarness.drain(output.fileHandleForReading.fileDescriptor, -1)
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// How many 4 KiB pages of the file hold a byte other than zero.
    static func nonZeroPages(_ path: String) throws -> Int {
        let memory = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        return memory.withUnsafeBytes { bytes in
            let words = bytes.bindMemory(to: UInt64.self)
            var pages = 0
            for page in stride(from: 0, to: words.count, by: 512)
            where words[page..<min(page + 512, words.count)]
                .contains(where: { $0 != 0 })
            {
                pages += 1
            }
            return pages
        }
    }
}
