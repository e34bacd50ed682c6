import Foundation
import Testing

/// Leases held by real processes, watched by the daemon with pidfds.
@Suite("device leases", .timeLimit(.minutes(20)), .serialized)
struct LeaseTests {
    /// Starts `sleep` as a lease holder.
    func holder() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["600"]
        try process.run()
        return process
    }

    /// The leases `list` shows for a device, as (pid, uid) pairs.
    func leases(_ daemon: DaemonHarness, _ device: String) throws -> [[String: Int]] {
        let listed = try #require((try daemon.cli(["list", "-d", device]).json() as? [[String: Any]])?.first)
        return try #require(listed["leases"] as? [[String: Int]])
    }

    /// Kills the lease holder and returns the device's leases once they are gone (or after 10 s).
    func killHolder(_ child: Process, thenLeasesOf device: String, in daemon: DaemonHarness) throws -> [[String: Int]] {
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        var remaining = try leases(daemon, device)
        for _ in 0..<400 where !remaining.isEmpty {
            usleep(25_000)
            remaining = try leases(daemon, device)
        }
        return remaining
    }

    @Test("a lease by a child pid shows in list, refuses destroy with 409 naming the pid, and ends when the child dies")
    func leaseEndsWithHolder() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        defer { daemon.stop() }
        #expect(daemon.cli(["create-device", "-s", "16M", "--name", "vm"]).status == 0)
        let child = try holder()
        let pid = child.processIdentifier
        let attached = daemon.cli(["attach", "vm", "--pid", "\(pid)"])
        #expect(attached.status == 0, "\(attached.stderr)")
        #expect(try leases(daemon, "vm") == [["pid": Int(pid), "uid": Int(getuid())]])

        let files = daemon.shmFiles()
        for arguments in [["destroy-device", "vm"], ["disable-device", "vm"]] {
            let refused = daemon.cli(arguments)
            #expect(refused.status != 0)
            let error = try refused.error()
            #expect(error["code"] as? String == "device_leased", "\(refused.stderr)")
            #expect(error["status"] as? Int == 409)
            #expect((error["message"] as? String)?.contains("pid \(pid)") == true, "\(refused.stderr)")
        }
        #expect(daemon.shmFiles() == files)

        let remaining = try killHolder(child, thenLeasesOf: "vm", in: daemon)
        #expect(remaining.isEmpty, "the lease outlived its holder")
        #expect(daemon.cli(["destroy-device", "-f", "vm"]).status == 0)
    }

    @Test("a lease survives a daemon restart while its holder runs, and still ends when it exits")
    func leaseSurvivesRestart() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        defer { daemon.stop() }
        #expect(daemon.cli(["create-device", "-s", "16M", "--name", "vm"]).status == 0)
        let child = try holder()
        let pid = child.processIdentifier
        #expect(daemon.cli(["attach", "vm", "--pid", "\(pid)"]).status == 0)
        daemon.stop(signal: SIGKILL)
        try daemon.start()
        #expect(try leases(daemon, "vm") == [["pid": Int(pid), "uid": Int(getuid())]])
        #expect(try daemon.cli(["destroy-device", "vm"]).error()["code"] as? String == "device_leased")
        let remaining = try killHolder(child, thenLeasesOf: "vm", in: daemon)
        #expect(remaining.isEmpty, "the re-watched lease outlived its holder")
        daemon.stop()
        try daemon.start()
        #expect(try leases(daemon, "vm").isEmpty)
    }

    @Test("detach ends a lease; a lease for a process that does not exist is refused")
    func detachAndBadPid() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        defer { daemon.stop() }
        #expect(daemon.cli(["create-device", "-s", "16M", "--name", "vm"]).status == 0)
        let child = try holder()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let pid = child.processIdentifier
        #expect(daemon.cli(["attach", "vm", "--pid", "\(pid)"]).status == 0)
        let twice = daemon.cli(["attach", "vm", "--pid", "\(pid)"])
        #expect(try twice.error()["code"] as? String == "lease_exists", "\(twice.stderr)")
        #expect(daemon.cli(["detach", "vm", "--pid", "\(pid)"]).status == 0)
        #expect(try leases(daemon, "vm").isEmpty)
        let again = daemon.cli(["detach", "vm", "--pid", "\(pid)"])
        #expect(try again.error()["code"] as? String == "not_found", "\(again.stderr)")
        let gone = daemon.cli(["attach", "vm", "--pid", "2147483000"])
        #expect(try gone.error()["code"] as? String == "bad_request", "\(gone.stderr)")
        #expect(try leases(daemon, "vm").isEmpty)
    }

    /// A C program that maps a file shared, dirties every page, says "ready", and keeps touching it.
    static let toucher = """
        #include <fcntl.h>
        #include <stdio.h>
        #include <sys/mman.h>
        #include <sys/stat.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            int fd = open(argv[1], O_RDWR);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0) return 2;
            volatile unsigned char *p = mmap(0, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) return 3;
            for (off_t i = 0; i < st.st_size; i += 4096) p[i] = 0xab;
            printf("ready\\n");
            fflush(stdout);
            for (;;) for (off_t i = 0; i < st.st_size; i += 4096) p[i] = (unsigned char)(p[i] + 1);
        }
        """

    @Test("a forced destroy revokes a mapped device: the holder dies of SIGBUS and new memory reads zero")
    func forcedDestroyRevokes() throws {
        let daemon = try DaemonHarness()
        try daemon.start()
        defer { daemon.stop() }
        let source = daemon.root + "/toucher.c"
        let binary = daemon.root + "/toucher"
        try Data(Self.toucher.utf8).write(to: URL(fileURLWithPath: source))
        let compile = Process()
        compile.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        compile.arguments = ["-O1", "-o", binary, source]
        try compile.run()
        compile.waitUntilExit()
        try #require(compile.terminationStatus == 0, "cc failed")

        let created = daemon.cli(["create-device", "-s", "8M", "-a", "4K", "--name", "vm"])
        let device = try #require((try created.json() as? [[String: Any]])?.first)
        let path = try #require(device["path"] as? String)
        let mappings = try #require(
            (try daemon.cli(["list", "-M", "-d", "vm"]).json() as? [[String: Any]])?.first?["mappings"] as? NSArray)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: binary)
        child.arguments = [path]
        let out = Pipe()
        child.standardOutput = out
        try child.run()
        let ready = out.fileHandleForReading.readData(ofLength: 6)
        try #require(String(decoding: ready, as: UTF8.self) == "ready\n")
        #expect(daemon.cli(["attach", "vm", "--pid", "\(child.processIdentifier)"]).status == 0)

        let refused = daemon.cli(["destroy-device", "vm"])
        #expect(try refused.error()["code"] as? String == "device_leased")
        let forced = daemon.cli(["destroy-device", "--force", "vm"])
        #expect(forced.status == 0, "\(forced.stderr)")
        for _ in 0..<400 where child.isRunning { usleep(25_000) }
        if child.isRunning {
            Issue.record("the holder still runs after its device was revoked")
            kill(child.processIdentifier, SIGKILL)
        }
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(child.terminationStatus == SIGBUS, "the holder ended with \(child.terminationStatus)")

        let again = daemon.cli(["create-device", "-s", "8M", "-a", "4K", "--name", "next"])
        #expect(again.status == 0, "\(again.stderr)")
        let next = try #require(
            (try daemon.cli(["list", "-M", "-d", "next"]).json() as? [[String: Any]])?.first)
        #expect(next["mappings"] as? NSArray == mappings, "the new device has the same memory ranges")
        let nextPath = try #require(next["path"] as? String)
        let bytes = try #require(FileManager.default.contents(atPath: nextPath))
        #expect(bytes.count == 8 << 20)
        #expect(bytes.allSatisfy { $0 == 0 }, "the new device shows the old holder's bytes")
    }
}
