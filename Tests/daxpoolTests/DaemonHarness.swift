import Foundation
import Testing

/// Starts the real `daxpool` binary as a daemon on a temporary socket, state directory and shm root,
/// and runs CLI commands against it.
final class DaemonHarness {
    let root: String
    let socket: String
    let stateDirectory: String
    let shmRoot: String
    private(set) var process: Process?

    /// The `daxpool` executable built next to this test bundle.
    /// `DAXPOOL_TEST_BINARY` overrides it, e.g. to check that a test fails on an older build.
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["DAXPOOL_TEST_BINARY"], !override.isEmpty {
            return override
        }
        return URL(fileURLWithPath: testBundle).deletingLastPathComponent().appendingPathComponent("daxpool").path
    }

    /// The running test bundle (`.build/<triple>/debug/daxpoolPackageTests.xctest`); the `daxpool` built with it
    /// is its sibling, never one found further up (an old build of another configuration).
    static var testBundle: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The repository this file is in, found from its own path.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Why the binary under test cannot be trusted to be the current code, or `nil`: it is missing, or older than a
    /// file in `Sources/` or `Package.swift` (`swift test --skip-build` after an edit would test an old build).
    /// Checked once; `DAXPOOL_TEST_BINARY` (a deliberate other build) is not checked.
    static let staleBinary: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["DAXPOOL_TEST_BINARY"], !override.isEmpty { return nil }
        let path = binary
        guard let built = modificationTime(path) else {
            return "\(path) does not exist: build it with `swift build --build-tests` before `swift test --skip-build`"
        }
        var newest: (path: String, time: Double)?
        func visit(_ path: String) {
            guard let time = modificationTime(path) else { return }
            if newest.map({ time > $0.time }) ?? true { newest = (path, time) }
        }
        visit("\(repository)/Package.swift")
        let sources = "\(repository)/Sources"
        for relative in FileManager.default.subpaths(atPath: sources) ?? []
        where relative.hasSuffix(".swift") || relative.hasSuffix(".c") || relative.hasSuffix(".h") {
            visit("\(sources)/\(relative)")
        }
        guard let newest, newest.time > built else { return nil }
        return
            "\(path) is older than \(newest.path): it is not a build of the current sources. "
            + "Build with `swift build --build-tests` (or run `swift test` without --skip-build)."
    }()

    /// A file's modification time in seconds, or `nil` when it cannot be read.
    static func modificationTime(_ path: String) -> Double? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
    }

    /// Throws, with the reason and what to run, when the binary under test is missing or older than the sources.
    static func requireCurrentBinary() throws {
        if let staleBinary { throw HarnessError(staleBinary) }
    }

    init() throws {
        let unique = "daxpool-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        root = "/tmp/\(unique)"
        socket = "\(root)/daxpool.sock"
        stateDirectory = "\(root)/state"
        shmRoot = "/dev/shm/\(unique)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: root)
        Self.unmountAll(under: shmRoot)
        try? FileManager.default.removeItem(atPath: shmRoot)
    }

    /// Detaches every mount at or below `path` (a root daemon mounts a tmpfs on each shm region), deepest first.
    static func unmountAll(under path: String) {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return }
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = String(fields[4])
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
        for point in points.sorted(by: { $0.count > $1.count }) {
            umount2(point, Int32(MNT_DETACH))
        }
    }

    /// Starts `daxpool serve` and waits until it is ready: it says `READY=1` on `$NOTIFY_SOCKET` (an abstract socket
    /// of this harness) once its socket listens, as it tells systemd. `launcher` runs it through another program, e.g.
    /// `["/usr/bin/prlimit", "--nofile=256:256"]` for a low descriptor limit (the launcher must exec the daemon);
    /// `log` is a file for the daemon's standard error (default: none).
    func start(
        defaultRegionSize: String = "256M", extra: [String] = [], launcher: [String] = [], log: String? = nil
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher.first ?? Self.binary)
        process.arguments =
            (launcher.isEmpty ? [] : Array(launcher.dropFirst()) + [Self.binary])
            + [
                "serve", "--socket", socket, "--state-dir", stateDirectory, "--shm-root", shmRoot,
                "--default-region-size", defaultRegionSize, "--log-level", "warning",
            ] + extra
        process.standardOutput = FileHandle.nullDevice
        if let log { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        process.standardError = FileHandle(forWritingAtPath: log ?? "/dev/null")
        try Self.run(process, waitingForReadiness: "daxpool serve on \(socket)")
        self.process = process
    }

    /// Runs `process` (a `daxpool serve`, possibly through a launcher) with `$NOTIFY_SOCKET` set, and returns when it
    /// says `READY=1`. Throws when it exits first (with its status) or is not ready within 60 s (then it is killed).
    static func run(_ process: Process, waitingForReadiness what: String) throws {
        if try runUntilReadyOrExit(process, what) == .exited {
            throw HarnessError("\(what) exited with \(process.terminationStatus) before it was ready")
        }
    }

    /// How a started daemon ended its start: ready to serve, or exited (its status is the process's).
    enum Start { case ready, exited }

    /// Runs `process` with `$NOTIFY_SOCKET` set and waits until it says `READY=1` or exits, whichever comes first.
    /// Throws when neither happens within 60 s (the process is killed).
    static func runUntilReadyOrExit(_ process: Process, _ what: String) throws -> Start {
        try requireCurrentBinary()
        let notify = try NotifySocket(abstract: "daxpool-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        var environment = process.environment ?? ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        process.environment = environment
        try process.run()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while clock.now < deadline {
            // A short wait per turn, so an early exit is seen at once.
            if let message = notify.receive(milliseconds: 100) {
                if message.split(separator: "\n").contains("READY=1") { return .ready }
                continue
            }
            if !process.isRunning {
                process.waitUntilExit()
                return .exited
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw HarnessError("\(what) neither said READY=1 nor exited within 60 s")
    }

    /// Sends `signal` and waits for the daemon to exit; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard let process else { return -1 }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        /// The JSON on stdout.
        func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(stdout.utf8)) }

        /// The one JSON error object on stderr.
        func error() throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(stderr.utf8))
            guard let dictionary = object as? [String: Any] else {
                throw HarnessError("stderr is not one JSON object: \(stderr)")
            }
            return dictionary
        }
    }

    /// Runs the CLI as another user: `setpriv --reuid=UID --regid=GID --clear-groups daxpool ...` (needs root).
    func cli(as uid: UInt32, gid: UInt32, _ arguments: [String]) -> Result {
        cli(
            arguments,
            launcher: [
                "/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", Self.binary,
            ]
        )
    }

    /// Runs the CLI with `DAXPOOL_SOCKET` pointing at this daemon (through `launcher` when given).
    func cli(_ arguments: [String], socket override: String? = nil, launcher: [String] = []) -> Result {
        if let problem = Self.staleBinary {
            Issue.record(Comment(rawValue: problem))
            return Result(status: -1, stdout: "", stderr: problem)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher.first ?? Self.binary)
        process.arguments = Array(launcher.dropFirst()) + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DAXPOOL_SOCKET"] = override ?? socket
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { return Result(status: -1, stdout: "", stderr: "\(error)") }
        // Read both pipes with poll so a full stderr pipe cannot block a process writing stdout.
        let (outData, errData) = Self.drain(
            out.fileHandleForReading.fileDescriptor, err.fileHandleForReading.fileDescriptor)
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
    }

    /// Runs the CLI with its standard error on a pseudo-terminal (as when a person runs it), stdout on a pipe.
    /// `stderr` is what the terminal received.
    func cliOnTerminal(_ arguments: [String]) throws -> Result {
        // posix_openpt(3) by hand: open the multiplexer, unlock the new terminal (TIOCSPTLCK), learn its number
        // (TIOCGPTN).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw HarnessError("cannot open /dev/ptmx: errno \(errno)") }
        defer { close(master) }
        var unlock: CInt = 0
        var number: CInt = 0
        guard ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
            throw HarnessError("cannot set up the pseudo-terminal: errno \(errno)")
        }
        let name = "/dev/pts/\(number)"
        let slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else { throw HarnessError("cannot open \(name): errno \(errno)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DAXPOOL_SOCKET"] = socket
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
        do {
            try process.run()
        } catch {
            close(slave)
            throw error
        }
        // Only the child holds the terminal now: the master reads EIO once it exits.
        close(slave)
        let (outData, errData) = Self.drain(out.fileHandleForReading.fileDescriptor, master)
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
    }

    /// Reads two descriptors to end of file, retrying on EINTR (Foundation's FileHandle traps on it).
    static func drain(_ first: Int32, _ second: Int32) -> (Data, Data) {
        var outputs = [Data(), Data()]
        var open = [first >= 0, second >= 0]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while open[0] || open[1] {
            var fds = [
                pollfd(fd: open[0] ? first : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: open[1] ? second : -1, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in 0..<2 where open[index] && fds[index].revents != 0 {
                let count = read(fds[index].fd, &buffer, buffer.count)
                if count > 0 {
                    outputs[index].append(contentsOf: buffer[0..<count])
                } else if count == 0 || errno != EINTR {
                    open[index] = false
                }
            }
        }
        return (outputs[0], outputs[1])
    }

    /// Files in the shm root, recursively, with their sizes: what a failed command must not change.
    func shmFiles() -> [String: UInt64] {
        var files: [String: UInt64] = [:]
        // A walk by hand: FileManager's enumerator does not descend into another filesystem, and a root daemon
        // mounts a tmpfs on each region. The regions' ownership markers (empty files) are left out.
        func walk(_ relative: String) {
            let absolute = relative.isEmpty ? shmRoot : "\(shmRoot)/\(relative)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? [] {
                guard !name.hasPrefix(".daxpool-region.") else { continue }
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                var status = stat()
                guard lstat("\(shmRoot)/\(path)", &status) == 0 else { continue }
                files[path] = UInt64(status.st_size)
                if status.st_mode & S_IFMT == S_IFDIR { walk(path) }
            }
        }
        walk("")
        return files
    }
}

/// Whether the tests run as root (needed to act as other users).
var runningAsRoot: Bool { geteuid() == 0 }

/// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`: a daemon says `READY=1` on it once it serves.
final class NotifySocket {
    /// What `$NOTIFY_SOCKET` is set to: the path, or `@name` for an abstract socket.
    let path: String
    let descriptor: Int32

    /// A socket bound at `path` in the file system.
    convenience init(path: String) throws {
        try self.init(address: Array(path.utf8), path: path)
    }

    /// A socket in the abstract namespace (`@name`): no file, so a daemon running as another user can send to it.
    convenience init(abstract name: String) throws {
        try self.init(address: [0] + Array(name.utf8), path: "@\(name)")
    }

    private init(address bytes: [UInt8], path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            throw HarnessError("notify socket name too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // A path's length includes its NUL; an abstract name is exactly its bytes.
        let length = MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(length)) }
        }
        guard bound == 0 else {
            let error = errno
            close(descriptor)
            throw HarnessError("bind \(path): errno \(error)")
        }
    }

    deinit { close(descriptor) }

    /// The next datagram, or `nil` after `seconds`.
    func receive(seconds: Int32) -> String? {
        receive(milliseconds: seconds * 1000)
    }

    /// The next datagram, or `nil` after `milliseconds`.
    func receive(milliseconds: Int32) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
