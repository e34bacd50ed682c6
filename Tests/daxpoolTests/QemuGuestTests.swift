import Foundation
import Testing

/// A real VMM on daxpool memory: the real daemon makes a device, `daxpool qemu-args` says how to give it to QEMU
/// as guest RAM, QEMU (TCG) boots the lab's Debian kernel with an initramfs whose `/init` writes a marker into
/// guest RAM and powers off, and the host then finds the marker in the device's file.
@Suite(
    "a real QEMU guest running on daxpool memory", .timeLimit(.minutes(20)), .serialized,
    .enabled(if: QemuGuestLab.missing == nil, QemuGuestLab.skipReason)
)
struct QemuGuestTests {
    @Test("a guest whose RAM is an shm device leaves its marker in the device file")
    func shmDevice() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "512M")
        defer { daemon.stop() }
        let device = try QemuGuestLab.createDevice(daemon, arguments: ["create-device", "-s", "256M"])
        defer { _ = daemon.cli(["destroy-device", "-f", device.name]) }
        try QemuGuestLab.bootAndFindMarker(daemon, device: device)
    }

    @Test(
        "a guest whose RAM is a hugetlb device leaves its marker in the device file",
        .enabled(if: geteuid() == 0, "needs root: the hugetlb backend reserves huge pages and mounts hugetlbfs")
    )
    func hugetlbDevice() throws {
        try QemuGuestLab.withHugePageLock {
            let daemon = try DaemonHarness()
            try daemon.start(defaultRegionSize: "0")
            let mountPoint = "\(daemon.root)/hugetlb/region0"
            defer {
                daemon.stop()
                QemuGuestLab.unmountAll(under: daemon.root)
            }
            let region = daemon.cli([
                "create-region", "--backend", "hugetlb", "--page-size", "2M", "--size", "256M", "--path", mountPoint,
                "--hvo", "off",
            ])
            if region.status != 0, region.stderr.contains("not available") {
                try Test.cancel(
                    "this daxpool serves no hugetlb backend yet (\(region.stderr)): register HugetlbBackend in ServeCommand"
                )
            }
            #expect(region.status == 0, "\(region.stderr)")
            let regionInfo = try #require(try region.json() as? [String: Any])
            let regionID = try #require(regionInfo["id"] as? Int)
            #expect(regionInfo["target_node"] as? Int == 0)
            defer { _ = daemon.cli(["destroy-region", "\(regionID)"]) }
            let device = try QemuGuestLab.createDevice(
                daemon, arguments: ["create-device", "-r", "\(regionID)", "-s", "256M"])
            defer { _ = daemon.cli(["destroy-device", "-f", device.name]) }
            #expect(device.path.hasPrefix(mountPoint + "/"))
            try QemuGuestLab.bootAndFindMarker(daemon, device: device)
        }
    }
}

/// The lab pieces the guest test needs, and the steps it takes.
enum QemuGuestLab {
    static let labDirectory = ProcessInfo.processInfo.environment["LAB_DIR"] ?? "/var/tmp/daxpool-lab"

    /// `lab/guest-ram/boot.sh` in this repository.
    static var bootScript: String {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("lab/guest-ram/boot.sh").path
    }

    /// The kernel `lab/setup.sh` unpacked (`KERNEL=` in `$LAB_DIR/lab.env`).
    static var kernel: String? {
        guard let text = try? String(contentsOfFile: "\(labDirectory)/lab.env", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("KERNEL=") }.map {
            String($0.dropFirst("KERNEL=".count))
        }
    }

    /// What is missing to boot a guest, or `nil` when everything is there.
    static var missing: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let qemu = path.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/qemu-system-x86_64")
        }
        if !qemu { return "qemu-system-x86_64 is not installed" }
        guard let kernel, FileManager.default.fileExists(atPath: kernel) else {
            return "the lab kernel is missing (\(labDirectory)/lab.env)"
        }
        if !FileManager.default.fileExists(atPath: "/bin/busybox") { return "busybox-static is not installed" }
        if !FileManager.default.isExecutableFile(atPath: bootScript) { return "\(bootScript) is missing" }
        return nil
    }

    static var skipReason: Comment {
        "\(missing ?? "the lab is ready"): run lab/setup.sh (it installs qemu-system-x86 and busybox-static and caches a Debian kernel)"
    }

    struct Device {
        var name: String
        var path: String
        var size: Int
    }

    /// Runs a `create-device` command line and returns the device it made.
    static func createDevice(_ daemon: DaemonHarness, arguments: [String]) throws -> Device {
        let result = daemon.cli(arguments)
        try #require(result.status == 0, "\(result.stderr)")
        let info = try #require((try result.json() as? [[String: Any]])?.first)
        return Device(
            name: try #require(info["chardev"] as? String),
            path: try #require(info["path"] as? String),
            size: try #require(info["size"] as? Int)
        )
    }

    /// Boots the guest with exactly the arguments `daxpool qemu-args --json` prints for `device`, then checks that
    /// the guest said it wrote its marker and that the device's file holds it many times over.
    static func bootAndFindMarker(_ daemon: DaemonHarness, device: Device) throws {
        let printed = daemon.cli(["qemu-args", "--json", device.name])
        try #require(printed.status == 0, "\(printed.stderr)")
        let arguments = try #require(try printed.json() as? [String])
        #expect(arguments.contains { $0.contains("mem-path=\(device.path)") && $0.contains("share=on") })

        let seed = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let marker = "DAXPOOL-GUEST-RAM-\(seed)-WRITTEN-BY-GUEST"
        let started = Date()
        let (status, console) = run(bootScript, ["--seed", seed, "--timeout", "120", "--"] + arguments)
        let seconds = Date().timeIntervalSince(started)
        #expect(status == 0, "boot.sh exited \(status) after \(Int(seconds)) s:\n\(console.suffix(3000))")
        #expect(console.contains("GUEST-RAM: wrote") && console.contains(marker), "the guest reported its marker")

        let memory = try Data(contentsOf: URL(fileURLWithPath: device.path))
        #expect(memory.count == device.size)
        let found = occurrences(of: Data(marker.utf8), in: memory)
        // The guest wrote 65,536 lines of the marker into its tmpfs; lines that straddle two guest pages that are
        // not next to each other in the file are not found, so ask for most, not all.
        #expect(found >= 10_000, "found the guest's marker \(found) times in \(device.path)")
    }

    /// How often `needle` occurs in `haystack` (`memchr(3)` and `memcmp(3)`, so 256 MiB take well under a second
    /// even in a debug build).
    static func occurrences(of needle: Data, in haystack: Data) -> Int {
        haystack.withUnsafeBytes { hay in
            needle.withUnsafeBytes { pin in
                guard let start = hay.baseAddress, let pinStart = pin.baseAddress, let first = pin.first else {
                    return 0
                }
                var count = 0
                var offset = 0
                while hay.count - offset >= pin.count,
                    let candidate = memchr(start + offset, Int32(first), hay.count - offset - pin.count + 1)
                {
                    let position = UnsafeRawPointer(candidate) - start
                    if memcmp(candidate, pinStart, pin.count) == 0 {
                        count += 1
                        offset = position + pin.count
                    } else {
                        offset = position + 1
                    }
                }
                return count
            }
        }
    }

    /// Runs `executable` with `arguments`; returns its exit status and its stdout and stderr together.
    static func run(_ executable: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return (-1, "\(error)") }
        let (data, _) = DaemonHarness.drain(output.fileHandleForReading.fileDescriptor, -1)
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs `body` holding the lock that every test changing the host's huge page pool takes.
    static func withHugePageLock(_ body: () throws -> Void) throws {
        let lock = open("/tmp/daxpool-hugetlb-tests.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw HarnessError("cannot open the huge page test lock: \(errno)") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        // Put node 0's 2M pool back as it was if the daemon could not give its pages back.
        let pool = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
        let before = try? String(contentsOfFile: pool, encoding: .utf8)
        defer {
            if let before, (try? String(contentsOfFile: pool, encoding: .utf8)) != before {
                try? before.write(toFile: pool, atomically: false, encoding: .utf8)
            }
        }
        try body()
    }

    /// Unmounts whatever a failed test left mounted under `root` (the harness then removes the directory).
    static func unmountAll(under root: String) {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return }
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4].hasPrefix(root + "/") ? String(fields[4]) : nil
        }
        for point in points.reversed() { umount2(point, Int32(MNT_DETACH)) }
    }
}
