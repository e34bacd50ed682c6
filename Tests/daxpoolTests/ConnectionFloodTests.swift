import DaxPoolTestSupport
import Foundation
import Testing

/// The threat model's tenant "opens thousands of connections" and "sends any bytes, slowly": none of it may lock
/// others out of the socket. The daemon runs with a low descriptor limit (256) so that a small flood exhausts it.
@Suite(
    "connection flood", .serialized, .timeLimit(.minutes(20)),
    .enabled(if: ThrowawayUser.isAvailable, Comment(rawValue: ThrowawayUser.unavailableReason))
)
struct ConnectionFloodTests {
    /// The daemon's descriptor limit in these tests.
    static let descriptorLimit = 256

    /// Connects `count` times to the socket as fast as it can and keeps every connection open and idle. Prints
    /// one JSON line per phase: `held` once the number of open connections has settled, `after` when a line
    /// arrives on stdin, and (when `idle` > 0) `idle` once the daemon has closed them all, with how long each
    /// lasted. A connection counts as closed by the daemon when it reads end of file (after any 503 it was sent).
    static let floodScript = #"""
        import json, select, socket, struct, sys, time
        path, count, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        socks, opened, closed, failed, refusals = [], [], [], 0, 0
        deadline = time.monotonic() + 15
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # A blocking connect waits for room in the listen backlog, at most 0.5 s (SO_SNDTIMEO).
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 500000))
            try:
                s.connect(path)
            except OSError:
                failed += 1
                s.close()
                continue
            socks.append(s); opened.append(time.monotonic()); closed.append(None)
        def sweep():
            global refusals
            live = {s.fileno(): i for i, s in enumerate(socks) if closed[i] is None}
            poller = select.poll()
            for fd in live:
                poller.register(fd, select.POLLIN)
            for fd, _ in poller.poll(0):
                i = live[fd]
                while True:
                    try:
                        data = socks[i].recv(65536, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    except OSError:
                        data = b""
                    if not data:
                        closed[i] = time.monotonic(); socks[i].close()
                        break
                    if b" 503 " in data:
                        refusals += 1
            return sum(1 for c in closed if c is None)
        def report(phase, **extra):
            print(json.dumps(dict(phase=phase, connected=len(socks), failed=failed, open=sweep(),
                                  refused=refusals, **extra)), flush=True)
        last, stable_since, settle_deadline = -1, time.monotonic(), time.monotonic() + 10
        while time.monotonic() < settle_deadline:
            now_open = sweep()
            if now_open != last:
                last, stable_since = now_open, time.monotonic()
            elif time.monotonic() - stable_since >= 1.0:
                break
            time.sleep(0.05)
        report("held")
        select.select([sys.stdin], [], [], 30)
        held_at = time.monotonic()
        held = [i for i, c in enumerate(closed) if c is None]
        report("after")
        if idle > 0:
            end = time.monotonic() + idle + 10
            while sweep() > 0 and time.monotonic() < end:
                time.sleep(0.05)
            lasted = [closed[i] - opened[i] for i in held if closed[i] is not None]
            report("idle", shortest=min(lasted, default=-1), longest=max(lasted, default=-1),
                   open_after_held=sum(1 for i in held if closed[i] is None))
        """#

    @Test("one uid holding a thousand idle connections does not stop root or another user from being served")
    func perUIDLimitKeepsOthersServed() throws {
        let flooder = try ThrowawayUser()
        let bystander = try ThrowawayUser()
        defer {
            flooder.remove()
            bystander.remove()
        }
        let daemon = try DaemonHarness()
        // SIGKILL: a graceful stop would wait for connections a broken daemon never closes.
        defer { daemon.stop(signal: SIGKILL) }
        let log = daemon.root + "/daemon.log"
        let idleTimeout = 8
        try daemon.start(
            extra: try socketConfig(daemon, group: flooder.gid) + [
                "--max-connections-per-uid", "16", "--idle-timeout", "\(idleTimeout)",
            ],
            launcher: ["/usr/bin/prlimit", "--nofile=\(Self.descriptorLimit):\(Self.descriptorLimit)"],
            log: log
        )
        let flood = try Flood(user: flooder, socket: daemon.socket, count: 1000, idle: idleTimeout)
        defer { flood.stop() }

        let held = try flood.line()
        #expect(held["phase"] as? String == "held")
        let connected = held["connected"] as? Int ?? 0
        #expect(connected >= 900, "the flood could connect only \(connected) times: \(held)")
        #expect(held["open"] as? Int == 16, "one uid holds at most 16 connections: \(held)")
        // Every connection over the limit was answered 503 and closed by the daemon: the flood read end of file.
        #expect((held["refused"] as? Int ?? 0) >= connected - 16 - 5, "\(held)")

        // While the flood holds its connections, root and another user are served at once.
        let rootStarted = ContinuousClock.now
        let root = daemon.cli(["list", "-R"], launcher: ["/usr/bin/timeout", "-k", "2", "10", DaemonHarness.binary])
        let rootTook = ContinuousClock.now - rootStarted
        #expect(root.status == 0, "root was not served during the flood: \(root.stderr)")
        #expect(rootTook < .seconds(3), "root waited \(rootTook)")
        let otherStarted = ContinuousClock.now
        let other = daemon.cli(
            ["list"],
            launcher: ["/usr/bin/timeout", "-k", "2", "10"] + launcher(for: bystander, socketGroup: flooder.gid)
                + [DaemonHarness.binary])
        let otherTook = ContinuousClock.now - otherStarted
        #expect(other.status == 0, "another user was not served during the flood: \(other.stderr)")
        #expect(otherTook < .seconds(3), "another user waited \(otherTook)")

        flood.proceed()
        let after = try flood.line()
        #expect(after["open"] as? Int == 16, "the flood held its connections all the while: \(after)")

        // The held connections send nothing: the daemon closes them after the idle timeout.
        let idle = try flood.line(timeout: .seconds(idleTimeout + 15))
        #expect(idle["open_after_held"] as? Int == 0, "idle connections stay open: \(idle)")
        let shortest = idle["shortest"] as? Double ?? -1
        let longest = idle["longest"] as? Double ?? -1
        #expect(shortest >= Double(idleTimeout) - 0.5, "closed before the idle timeout: \(idle)")
        #expect(longest <= Double(idleTimeout) + 6, "closed long after the idle timeout: \(idle)")

        // Refusals are logged, but not once per connection.
        let refusalLines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            .split(separator: "\n").filter { $0.contains("refused") }
        #expect((1...3).contains(refusalLines.count), "refusal log lines: \(refusalLines.count)")
        #expect(
            daemon.cli(["list", "-R"], launcher: ["/usr/bin/timeout", "-k", "2", "10", DaemonHarness.binary]).status
                == 0)
    }

    @Test("descriptors are kept back for administrators when non-administrators hold all the others")
    func reserveKeepsAdministratorsServed() throws {
        let flooder = try ThrowawayUser()
        let bystander = try ThrowawayUser()
        defer {
            flooder.remove()
            bystander.remove()
        }
        let daemon = try DaemonHarness()
        // SIGKILL: a graceful stop would wait for connections a broken daemon never closes.
        defer { daemon.stop(signal: SIGKILL) }
        try daemon.start(
            extra: try socketConfig(daemon, group: flooder.gid) + [
                "--max-connections-per-uid", "1000000", "--idle-timeout", "60",
            ],
            launcher: ["/usr/bin/prlimit", "--nofile=\(Self.descriptorLimit):\(Self.descriptorLimit)"]
        )
        let flood = try Flood(user: flooder, socket: daemon.socket, count: 1000, idle: 0)
        defer { flood.stop() }

        let held = try flood.line()
        let open = held["open"] as? Int ?? 0
        // 64 descriptors for the daemon's own files and 16 for administrators stay free, besides those it held.
        #expect(open > 0 && open <= Self.descriptorLimit - 64 - 16, "non-administrators hold \(open): \(held)")

        let started = ContinuousClock.now
        let root = daemon.cli(["list", "-R"], launcher: ["/usr/bin/timeout", "-k", "2", "10", DaemonHarness.binary])
        let took = ContinuousClock.now - started
        #expect(root.status == 0, "root was not served while non-administrators held all they may: \(root.stderr)")
        #expect(took < .seconds(3), "root waited \(took)")
        // Another non-administrator finds no room left: it is refused at once rather than left waiting.
        let other = daemon.cli(
            ["list"],
            launcher: ["/usr/bin/timeout", "-k", "2", "10"] + launcher(for: bystander, socketGroup: flooder.gid)
                + [DaemonHarness.binary])
        #expect(
            other.status != 0 && other.status != 124 && other.status != 137, "status \(other.status): \(other.stderr)")
        // It is told why, unless its request raced the close (then its write fails with EPIPE).
        #expect(
            ["too_many_connections", "Broken pipe", "reset by peer"].contains { other.stderr.contains($0) },
            "\(other.stderr)")

        flood.proceed()
        let after = try flood.line()
        #expect(after["open"] as? Int == open, "the flood held its connections all the while: \(after)")
    }

    @Test("a connection idle before, within or after a request is closed, and a follow stream is not")
    func idleConnectionsAreClosed() throws {
        let daemon = try DaemonHarness()
        // SIGKILL: a graceful stop would wait for connections a broken daemon never closes.
        defer { daemon.stop(signal: SIGKILL) }
        try daemon.start(extra: ["--idle-timeout", "2"])
        // Each case sends its bytes, then nothing; the script prints how long after that each one was closed
        // (null: still open after 9 s). Streams answer their head at once and then wait for events.
        let script = #"""
            import json, select, socket, sys, time
            cases = {
                "nothing": b"",
                "half_header": b"GET /v1/health HTTP/1.1\r\nHost: x\r\n",
                "half_body": b"POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n{\"name\": ",
                "kept_alive": b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
                "progress_follow": b"GET /v1/progress?follow=true HTTP/1.1\r\nHost: x\r\n\r\n",
                "events_follow": b"GET /v1/events?follow=true HTTP/1.1\r\nHost: x\r\n\r\n",
            }
            socks, closed, received = {}, {}, {}
            for name, data in cases.items():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sys.argv[1])
                s.sendall(data)
                socks[name], closed[name], received[name] = s, None, b""
            sent = time.monotonic()
            while time.monotonic() < sent + 9 and any(c is None for c in closed.values()):
                live = {s.fileno(): n for n, s in socks.items() if closed[n] is None}
                poller = select.poll()
                for fd in live:
                    poller.register(fd, select.POLLIN)
                for fd, _ in poller.poll(100):
                    name = live[fd]
                    try:
                        data = socks[name].recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        received[name] += data
                    else:
                        closed[name] = time.monotonic() - sent
            print(json.dumps(dict(closed=closed, status={n: r[:12].decode("latin-1") for n, r in received.items()})))
            """#
        let result = ThrowawayUser.run(
            "/usr/bin/timeout", ["-k", "2", "30", "/usr/bin/python3", "-c", script, daemon.socket])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let closed = object?["closed"] as? [String: Any] ?? [:]
        let status = object?["status"] as? [String: String] ?? [:]
        for name in ["nothing", "half_header", "half_body", "kept_alive"] {
            let seconds = closed[name] as? Double
            #expect(seconds != nil, "\(name): still open after 9 s with an idle timeout of 2 s")
            if let seconds { #expect((1.5...6).contains(seconds), "\(name): closed after \(seconds) s") }
        }
        #expect(status["kept_alive"] == "HTTP/1.1 200", "\(status)")
        for name in ["progress_follow", "events_follow"] {
            #expect(closed[name] is NSNull, "\(name): a stream was cut after \(closed[name] ?? "?") s")
            #expect(status[name] == "HTTP/1.1 200", "\(name): \(status)")
        }
    }

    /// `--config` letting members of `group` reach the socket (mode 0660).
    private func socketConfig(_ daemon: DaemonHarness, group: UInt32) throws -> [String] {
        let path = daemon.root + "/config.json"
        try Data(#"{"socket": {"group": \#(group), "mode": "0660"}}"#.utf8).write(to: URL(fileURLWithPath: path))
        return ["--config", path]
    }

    /// Runs as `user` with `socketGroup` as a supplementary group, so that it reaches the socket.
    private func launcher(for user: ThrowawayUser, socketGroup: UInt32) -> [String] {
        ["/usr/bin/setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--groups=\(socketGroup)"]
    }
}

/// The flood script running as a throwaway user, with a pipe to its stdin and one from its stdout.
private final class Flood {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered: [UInt8] = []

    init(user: ThrowawayUser, socket: String, count: Int, idle: Int) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments =
            ["-k", "2", "90"] + user.launcher + [
                "/usr/bin/python3", "-c", ConnectionFloodTests.floodScript, socket, "\(count)", "\(idle)",
            ]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The next JSON line the script prints, waiting at most `timeout`.
    func line(timeout: Duration = .seconds(40)) throws -> [String: Any] {
        let descriptor = output.fileHandleForReading.fileDescriptor
        let deadline = ContinuousClock.now + timeout
        while !buffered.contains(UInt8(ascii: "\n")) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw HarnessError("the flood script printed no line within \(timeout)") }
            var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
            let milliseconds = Int32(
                left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            if poll(&descriptors, 1, max(1, milliseconds)) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                throw HarnessError("the flood script ended: \(String(decoding: buffered, as: UTF8.self))")
            }
            buffered += chunk[0..<count]
        }
        guard let end = buffered.firstIndex(of: UInt8(ascii: "\n")) else { return [:] }
        let text = buffered[..<end]
        buffered.removeSubrange(...end)
        guard let object = try JSONSerialization.jsonObject(with: Data(text)) as? [String: Any] else {
            throw HarnessError("not a JSON object: \(String(decoding: text, as: UTF8.self))")
        }
        return object
    }

    /// Tells the script to go on to its next phase.
    func proceed() {
        input.fileHandleForWriting.write(Data("go\n".utf8))
    }

    /// Ends the script (`timeout` passes SIGTERM on; its connections close with it) and waits for it.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
    }
}
