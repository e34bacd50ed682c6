import DaxPoolCore
import DaxPoolLinux
import DaxPoolTestSupport
import Foundation
import Glibc
import Testing

/// The threat model's tenant against the shm pool: it owns a device, keeps a way into the device's memory past the
/// destroy (a hard link, an open descriptor, a descriptor in flight in a socket message, a mapping), or grows the
/// device's file; the device is destroyed and scrubbed the ordinary way, and a new owner (root) gets a device of
/// the same size and writes its secret. The tenant must see nothing of it, and the new device must read zero.
///
/// The tenant is a throwaway user running a small Python program, so every attack is made with the real system
/// calls and the real credentials of someone who is not the daemon.
@Suite(
    "pool hand-out attacks", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: ThrowawayUser.isAvailable, "needs root and useradd: the test acts as throwaway users")
)
struct PoolHandOutAttackTests {
    /// What the tenant keeps after its device is destroyed.
    enum Attack: String, CaseIterable, Sendable {
        case hardLink = "link"
        case descriptor = "fd"
        case descriptorInFlight = "inflight"
        case mapping = "map"
        case readOnlyMapping = "romap"
    }

    static let deviceSize = ByteCount.mebibytes(16)
    static let newOwnerSecret = "NEW-OWNER-SECRET"

    @Test(
        "a way into destroyed memory that the tenant keeps never reaches the next owner's device",
        arguments: Attack.allCases, [false, true]
    )
    func keptWayIn(attack: Attack, ownMount: Bool) throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let root = try Scratch.makeDirectory()
        defer { Self.removeRegion(root) }
        let backend = ShmBackend(directoryMode: 0o711, scrubThreads: 2, mountsRegions: ownMount)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(64)))
        defer { try? backend.destroyRegion(region) }

        let victim = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(victim, size: Self.deviceSize, extents: [], in: region)
        try backend.setDeviceOwner(victim, uid: tenant.uid, in: region)
        let victimPath = try #require(backend.devicePath(victim, in: region))

        let keep = "/dev/shm/dxt-keep-\(tenant.name)"
        defer { unlink(keep) }
        let program = try TenantProgram(tenant, mode: attack.rawValue, path: victimPath, keep: keep)
        defer { program.stop() }
        let ready = try program.readLine()
        if attack == .hardLink && ownMount {
            // The region is its own tmpfs: a name for the file elsewhere is impossible.
            #expect(ready == "refused \(EXDEV)", "linking out of the region's own mount: \(ready)")
            return
        }
        #expect(ready.hasPrefix("ready"), "the tenant program: \(ready) \(program.errors())")

        try backend.setDeviceEnabled(victim, enabled: false, in: region)
        try backend.retireDevice(victim, token: "00aa", in: region)
        try backend.scrubRetired(token: "00aa", size: Self.deviceSize, in: region) { _, _ in }

        let next = DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(next, size: Self.deviceSize, extents: [], in: region)
        let nextPath = try #require(backend.devicePath(next, in: region))
        let nonZero = try TenantIsolationProbe.withMapping(nextPath, writable: true) { bytes -> Int? in
            let nonZero = TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer(bytes))
            TenantIsolationProbe.fill(bytes, with: Array(Self.newOwnerSecret.utf8))
            return nonZero
        }
        #expect(nonZero == nil, "the next owner reads a non-zero byte at \(nonZero ?? 0)")

        // "denied": the name the tenant kept no longer opens for it; "clean": what it reaches is not the new device.
        let seen = try program.ask("check \(Self.newOwnerSecret)")
        #expect(seen == "clean" || seen == "denied", "the tenant, through its \(attack), reports: \(seen)")
        let tenantInode = UInt64(ready.split(separator: " ").last.flatMap { UInt64($0) } ?? 0)
        #expect(tenantInode != UInt64(Scratch.status(nextPath)?.st_ino ?? 0), "the next device is the tenant's file")
        try backend.destroyDevice(next, in: region)
    }

    @Test("a device file its tenant grew is cut back to the device's size before its memory is pooled")
    func grownFile() throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let root = try Scratch.makeDirectory()
        defer { Self.removeRegion(root) }
        let backend = ShmBackend(directoryMode: 0o711, scrubThreads: 2, mountsRegions: false)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(64)))
        defer { try? backend.destroyRegion(region) }
        let victim = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(victim, size: Self.deviceSize, extents: [], in: region)
        try backend.setDeviceOwner(victim, uid: tenant.uid, in: region)
        let victimPath = try #require(backend.devicePath(victim, in: region))

        let program = try TenantProgram(tenant, mode: "grow", path: victimPath, keep: "")
        let ready = try program.readLine()
        #expect(ready.hasPrefix("ready"), "the tenant program: \(ready) \(program.errors())")
        program.stop()
        let grown = try #require(Scratch.status(victimPath))
        #expect(grown.st_size == 48 << 20, "the tenant grew its file to 48 MiB")

        try backend.retireDevice(victim, token: "00bb", in: region)
        try backend.scrubRetired(token: "00bb", size: Self.deviceSize, in: region) { _, _ in }
        let pooled = try FileManager.default.contentsOfDirectory(atPath: "\(region.path)/.pool")
        #expect(pooled.count == 1, "\(pooled)")
        for name in pooled {
            let status = try #require(Scratch.status("\(region.path)/.pool/\(name)"))
            #expect(status.st_size == Int(Self.deviceSize.rawValue), "\(name) was not cut back")
            #expect(Int64(status.st_blocks) * 512 <= Int64(Self.deviceSize.rawValue))
            #expect(status.st_uid == geteuid() && status.st_mode & 0o7777 == 0o600)
        }
        // The cut-back file is what the next device of the device's size gets, and it reads zero.
        let next = DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(next, size: Self.deviceSize, extents: [], in: region)
        let nextPath = try #require(backend.devicePath(next, in: region))
        let nonZero = try TenantIsolationProbe.withMapping(nextPath, writable: false) {
            TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer($0))
        }
        #expect(nonZero == nil)
        try backend.destroyDevice(next, in: region)
    }

    @Test("as root a shm region is its own tmpfs mount, sized to the region: a tenant cannot grow past it")
    func regionMountCapsGrowth() throws {
        let tenant = try ThrowawayUser()
        defer { tenant.remove() }
        let root = try Scratch.makeDirectory()
        defer { Self.removeRegion(root) }
        let backend = ShmBackend(directoryMode: 0o711, scrubThreads: 2, mountsRegions: true)
        let region = try backend.createRegion(Scratch.region("\(root)/region0", size: .mebibytes(32)))
        defer { try? backend.destroyRegion(region) }
        #expect(
            Self.mountOptions(region.path)?.contains("size=32768k") == true, "\(Self.mountOptions(region.path) ?? "-")")

        let victim = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(victim, size: Self.deviceSize, extents: [], in: region)
        try backend.setDeviceOwner(victim, uid: tenant.uid, in: region)
        let program = try TenantProgram(
            tenant, mode: "grow", path: try #require(backend.devicePath(victim, in: region)), keep: "")
        let ready = try program.readLine()
        program.stop()
        #expect(ready == "refused \(ENOSPC)", "growing to 48 MiB in a 32 MiB region: \(ready)")
        try backend.destroyDevice(victim, in: region)
    }

    /// The options `/proc/self/mountinfo` shows for a mount at `path`, or `nil` when nothing is mounted there.
    static func mountOptions(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 4, fields[4] == path { return String(fields.last ?? "") }
        }
        return nil
    }

    /// Unmounts what a test left mounted under `root`, then removes it.
    static func removeRegion(_ root: String) {
        umount2("\(root)/region0", Int32(MNT_DETACH))
        Scratch.remove(root)
    }
}

/// The tenant's side: a Python program run as the throwaway user. It opens the device file, writes a pattern,
/// keeps its way in (`mode`), prints `ready <inode>` (or `refused <errno>`), and then answers `check SECRET` with
/// `seen` or `clean` after reading everything its way in reaches.
final class TenantProgram {
    let process: Process
    let input: Pipe
    let output: Pipe
    let errorOutput: Pipe
    private var buffered: [UInt8] = []

    static let source = #"""
        import mmap, os, socket, sys
        mode, path, keep = sys.argv[1], sys.argv[2], sys.argv[3]
        def say(text):
            sys.stdout.write(text + "\n"); sys.stdout.flush()
        try:
            fd = os.open(path, os.O_RDONLY if mode == "romap" else os.O_RDWR)
            inode = os.fstat(fd).st_ino
            if mode != "romap":
                os.pwrite(fd, b"TENANT-SECRET!!!" * 4096, 0)
            view = None
            if mode == "link":
                os.link(path, keep); os.close(fd)
            elif mode == "fd":
                view = fd
            elif mode == "inflight":
                left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                socket.send_fds(left, [b"x"], [fd]); os.close(fd)
            elif mode in ("map", "romap"):
                prot = mmap.PROT_READ if mode == "romap" else mmap.PROT_READ | mmap.PROT_WRITE
                view = mmap.mmap(fd, 0, mmap.MAP_SHARED, prot); os.close(fd)
            elif mode == "grow":
                os.posix_fallocate(fd, 0, 48 << 20); os.close(fd)
        except OSError as error:
            say("refused %d" % error.errno); sys.exit(0)
        say("ready %d" % inode)
        def read():
            if mode == "link":
                with open(keep, "rb") as f: return f.read()
            if mode == "fd":
                return os.pread(view, os.fstat(view).st_size, 0)
            if mode == "inflight":
                _, fds, _, _ = socket.recv_fds(right, 16, 1)
                return os.pread(fds[0], os.fstat(fds[0]).st_size, 0)
            return view[:]
        for line in sys.stdin:
            secret = line.split()[1].encode()
            try:
                data = read()
            except OSError:
                say("denied"); continue
            say("seen" if secret in data else "clean")
        """#

    init(_ user: ThrowawayUser, mode: String, path: String, keep: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: user.launcher[0])
        process.arguments =
            Array(user.launcher.dropFirst()) + ["/usr/bin/python3", "-c", Self.source, mode, path, keep]
        input = Pipe()
        output = Pipe()
        errorOutput = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errorOutput
        try process.run()
    }

    /// The next line the program prints (empty when it ended without one).
    func readLine() throws -> String {
        let handle = output.fileHandleForReading
        while !buffered.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffered += chunk
        }
        let end = buffered.firstIndex(of: UInt8(ascii: "\n")) ?? buffered.endIndex
        let line = String(decoding: buffered[..<end], as: UTF8.self)
        buffered = Array(buffered[min(end + 1, buffered.count)...])
        return line
    }

    /// Sends `line` and returns the answer.
    func ask(_ line: String) throws -> String {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
        return try readLine()
    }

    /// What the program wrote to stderr so far (after it ended).
    func errors() -> String {
        guard !process.isRunning else { return "" }
        return String(decoding: errorOutput.fileHandleForReading.availableData, as: UTF8.self)
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }
}
