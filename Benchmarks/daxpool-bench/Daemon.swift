import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Hummingbird
import Logging

/// The real daemon in this process: `PoolService` and `buildApplication` on a Unix socket in a temporary directory,
/// as `daxpool serve` runs them, until `stop()`.
final class InProcessDaemon: @unchecked Sendable {
    // SAFETY: `task` is set once in `start` before any other thread sees the value, and only read after.
    let socketPath: String
    let service: PoolService
    private var task: Task<Void, any Error>?

    private init(socketPath: String, service: PoolService) {
        self.socketPath = socketPath
        self.service = service
    }

    /// Starts a daemon with `backends` and `store` on `socketPath`, and waits until it answers.
    static func start(
        socketPath: String,
        backends: [any MemoryBackend],
        store: any StateStore,
        shmRoot: String
    ) async throws -> InProcessDaemon {
        let service = try await PoolService(
            backends: backends,
            store: store,
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: shmRoot, hugetlbRoot: shmRoot + "/hugetlb"),
            logger: quietLogger
        )
        let daemon = InProcessDaemon(socketPath: socketPath, service: service)
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        let app = buildApplication(
            service: service, socketPath: socketPath, logger: quietLogger,
            onServerRunning: { readyContinuation.yield() })
        daemon.task = Task { try await app.run() }
        for await _ in ready { break }
        return daemon
    }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        unlink(socketPath)
    }
}

/// A trivial HTTP server on a Unix socket, the baseline for the API rows: a Hummingbird application with one route
/// that answers a fixed 64-byte JSON body.
final class EchoServer: @unchecked Sendable {
    // SAFETY: as `InProcessDaemon`.
    let socketPath: String
    private var task: Task<Void, any Error>?

    private init(socketPath: String) { self.socketPath = socketPath }

    static let body = #"{"ok":true,"padding":"................................."}"# + "\n"

    static func start(socketPath: String) async -> EchoServer {
        let server = EchoServer(socketPath: socketPath)
        let router = Router()
        router.post("/echo") { request, _ -> Response in
            var request = request
            _ = try await request.collectBody(upTo: 1 << 20)
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: EchoServer.body)))
        }
        router.delete("/echo/{name}") { _, _ -> HTTPResponse.Status in .noContent }
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "echo"),
            onServerRunning: { _ in readyContinuation.yield() },
            logger: quietLogger
        )
        server.task = Task { try await app.run() }
        for await _ in ready { break }
        return server
    }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        unlink(socketPath)
    }
}

/// The floor for HTTP over a Unix socket: a thread that accepts one connection at a time and answers every request
/// (read up to the end of the headers and a `Content-Length` body) with the same fixed response, keep-alive.
final class RawEchoServer: @unchecked Sendable {
    // SAFETY: `listener` is written once in `start`; the accept thread only reads it; `stop` closes it.
    let socketPath: String
    private var listener: Int32 = -1

    init(socketPath: String) { self.socketPath = socketPath }

    func start() throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError.errno("socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw BenchError.errno("bind/listen \(socketPath)") }
        listener = fd
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            let thread = Thread { RawEchoServer.serve(connection) }
            thread.start()
        }
    }

    private static let response = Array(
        ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(EchoServer.body.utf8.count)\r\n\r\n"
            + EchoServer.body).utf8)

    private static func serve(_ connection: Int32) {
        defer { close(connection) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pending: [UInt8] = []
        while true {
            // Complete requests in `pending`?
            while let headerEnd = findHeaderEnd(pending) {
                let head = String(decoding: pending[0..<headerEnd], as: UTF8.self).lowercased()
                var length = 0
                if let range = head.range(of: "content-length:") {
                    let digits = head[range.upperBound...].prefix { $0 == " " || $0.isNumber }
                    length = Int(digits.trimmingCharacters(in: .whitespaces)) ?? 0
                }
                guard pending.count >= headerEnd + 4 + length else { break }
                pending.removeFirst(headerEnd + 4 + length)
                let sent = response.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent < 0 { return }
            }
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return }
            pending += buffer[0..<count]
        }
    }

    private static func findHeaderEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(socketPath)
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "daxpool-bench") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()

/// A state store that keeps the snapshot in memory and writes nothing: to see what the API costs without
/// durability. A fake, so named.
final class InMemoryStateStoreFake: StateStore, @unchecked Sendable {
    // SAFETY: `lock` guards `snapshot`.
    private let lock = NSLock()
    private var snapshot: PoolSnapshot?

    func load() throws -> PoolSnapshot? { lock.withLock { snapshot } }

    func commit(_ snapshot: PoolSnapshot) throws { lock.withLock { self.snapshot = snapshot } }
}
