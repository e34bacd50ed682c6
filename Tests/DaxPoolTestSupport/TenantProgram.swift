// Linux only.
import Foundation
import Glibc

/// The tenant's side: a Python program run as the throwaway user. It opens the device file, writes a pattern,
/// keeps its way in (`mode`), prints `ready <inode>` (or `refused <errno>`), and then answers `check SECRET` with
/// `seen` or `clean` after reading everything its way in reaches.
public final class TenantProgram: @unchecked Sendable {
    // SAFETY: used from one test at a time; the pipes and the process are the only state.
    /// The running tenant (a Python program under the throwaway user).
    public let process: Process
    let input: Pipe
    let output: Pipe
    let errorOutput: Pipe
    private var buffered: [UInt8] = []

    /// The tenant's Python source: it opens, maps and keeps what it is told to, and says what it saw.
    public static let source = #"""
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

    /// Starts the tenant as `user`, opening `path` in `mode` and keeping what `keep` names (a descriptor, a mapping).
    public init(_ user: ThrowawayUser, mode: String, path: String, keep: String) throws {
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

    /// The next line the program prints (empty when it ended without one, or printed none within `seconds`).
    /// Every wait is bounded: a copy of the pipe another test's child inherited must not hang this one.
    public func readLine(seconds: Int = 60) throws -> String {
        let descriptor = output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while !buffered.contains(UInt8(ascii: "\n")) {
            let chunk = Self.read(descriptor, waitingUntil: deadline)
            if chunk.isEmpty { break }
            buffered += chunk
        }
        let end = buffered.firstIndex(of: UInt8(ascii: "\n")) ?? buffered.endIndex
        let line = String(decoding: buffered[..<end], as: UTF8.self)
        buffered = Array(buffered[min(end + 1, buffered.count)...])
        return line
    }

    /// Sends `line` and returns the answer.
    public func ask(_ line: String) throws -> String {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
        return try readLine()
    }

    /// What the program wrote to stderr so far, without waiting.
    public func errors() -> String {
        String(
            decoding: Self.read(errorOutput.fileHandleForReading.fileDescriptor, waitingUntil: Date()), as: UTF8.self)
    }

    /// Kills the program and waits a few seconds at most for it to be gone.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        for _ in 0..<500 where process.isRunning {
            usleep(10_000)
        }
    }

    /// Up to 64 KiB from `descriptor` once it is readable, or nothing at end of file or at `deadline`.
    static func read(_ descriptor: Int32, waitingUntil deadline: Date) -> [UInt8] {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = max(0, Int32(deadline.timeIntervalSinceNow * 1000))
        guard poll(&entry, 1, milliseconds) == 1 else { return [] }
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        return count > 0 ? Array(bytes.prefix(count)) : []
    }
}
