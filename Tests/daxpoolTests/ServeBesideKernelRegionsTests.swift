import Foundation
import Testing

/// `daxpool serve` with no flags on a host whose kernel has dax regions (a sysfs tree standing for `/sys`, given
/// with the hidden `--sysfs-root`): it makes no default shm region, so the kernel's region 0 can be adopted as
/// region 0, and a region of its own takes the next id the kernel does not use.
@Suite("daxpool serve beside kernel dax regions", .serialized, .timeLimit(.minutes(20)))
struct ServeBesideKernelRegionsTests {
    @Test("a plain serve makes no default region when the kernel has dax region 0, and a new shm region is region 1")
    func noDefaultRegion() throws {
        let daemon = try DaemonHarness()
        let sysfs = "\(daemon.root)/sys"
        // What sysfs shows on a host with 1 GiB of soft-reserved memory (dax_hmem.region_idle=1): dax region 0 with
        // its empty seed device dax0.0.
        let hmem = "\(sysfs)/devices/platform/hmem.0"
        for (file, value) in [
            "dax_region/id": "0", "dax_region/size": "1073741824", "dax_region/align": "2097152",
            "dax_region/available_size": "1073741824", "dax_region/seed": "dax0.0", "dax_region/create": "dax0.0",
            "resource": "0x140000000", "dax0.0/size": "0", "dax0.0/align": "2097152", "dax0.0/target_node": "0",
            "dax0.0/numa_node": "0", "dax0.0/resource": "0x140000000",
        ] {
            let path = "\(hmem)/\(file)"
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: path))
        }
        try FileManager.default.createDirectory(atPath: "\(sysfs)/bus/dax/devices", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: "\(sysfs)/bus/dax/devices/dax0.0", withDestinationPath: "../../../devices/platform/hmem.0/dax0.0")
        let log = "\(daemon.root)/serve.log"
        let serve = try Self.serve(daemon, extra: ["--sysfs-root", sysfs], log: log)
        defer {
            kill(serve.processIdentifier, SIGTERM)
            serve.waitUntilExit()
        }

        let listed = daemon.cli(["list", "-R"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let regions = try #require(try listed.json() as? [[String: Any]])
        #expect(regions.isEmpty, "no default region beside the kernel's: \(listed.stdout)")
        let logged = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(logged.contains("made no default shm region"), "\(logged)")
        #expect(logged.contains("--dax-region 0"), "the log says how to adopt the kernel's region")

        let created = daemon.cli(["create-region", "--backend", "shm", "--size", "64M"])
        #expect(created.status == 0, "\(created.stderr)")
        let region = try #require(try created.json() as? [String: Any])
        #expect(region["id"] as? Int == 1, "region 0 stays the kernel's")
        #expect(region["align"] as? Int == 4096, "an shm region of 4K pages lists align 4096, as daxctl would")
        _ = daemon.cli(["destroy-region", "1"])

        let adopted = daemon.cli(["create-region", "--backend", "devdax", "--dax-region", "0"])
        #expect(adopted.status == 0, "\(adopted.stderr)")
        let kernel = try #require(try adopted.json() as? [String: Any])
        #expect(kernel["id"] as? Int == 0, "the kernel's region is adopted under its own id")
        #expect(kernel["align"] as? Int == 2 << 20, "with the kernel's dax_region/align")
    }

    /// Starts `daxpool serve` with no region flags (only where to serve and keep state) and waits until it answers.
    static func serve(_ daemon: DaemonHarness, extra: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonHarness.binary)
        process.arguments =
            [
                "serve", "--socket", daemon.socket, "--state-dir", daemon.stateDirectory, "--shm-root", daemon.shmRoot,
                "--log-level", "notice",
            ] + extra
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try DaemonHarness.run(process, waitingForReadiness: "daxpool serve on \(daemon.socket)")
        return process
    }
}
