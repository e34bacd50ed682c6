import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Foundation
import Hummingbird
import Logging
import Testing

/// Calls to a daemon served on a Unix socket in the test process, for the suites that drive the real router.
enum RouterCalls {
    /// Sends `body` and returns the status and the error object of the answer.
    static func send(_ client: DaxPoolClient, _ method: String, _ path: String, _ body: String) async throws -> (
        Int, ErrorBody?
    ) {
        let socket = client.socketPath
        let (status, bytes) = try await blocking {
            try DaxPoolClient(socketPath: socket).raw(method: method, path: path, body: Array(body.utf8))
        }
        return (status, try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes)))
    }

    /// Runs `body` against a daemon's router on a fresh socket, with a 256 MiB default shm region on `backends` and
    /// the state kept in memory.
    static func withServer(
        backends: [any MemoryBackend], _ body: (DaxPoolClient, PoolService) async throws -> Void
    ) async throws {
        let socket = "/tmp/daxpool-router-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let service = try await PoolService(
            backends: backends,
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            watcher: ProcessWatcherFake()
        )
        let app = buildApplication(service: service, socketPath: socket, logger: Logger(label: "test"))
        try await serving(app, socket: socket) { client in
            try await body(client, service)
        }
    }

    /// Runs `app` (serving on `socket`), waits until it answers `/v1/health`, and runs `body` with a client of it;
    /// the server stops when `body` returns. The socket file is removed afterwards.
    static func serving(
        _ app: some ApplicationProtocol, socket: String, _ body: (DaxPoolClient) async throws -> Void
    ) async throws {
        defer { unlink(socket) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            try await waitUntilAnswering(socket)
            try await body(DaxPoolClient(socketPath: socket))
        }
    }

    /// Waits until the server on `socket` answers `GET /v1/health`; throws `WaitTimeout` after 10 minutes. The
    /// deadline only tells a hang from a slow start: in a full run on two cores, synchronous tests waiting for the
    /// huge page lock can hold the cooperative pool's threads for minutes, and the server cannot start meanwhile.
    static func waitUntilAnswering(_ socket: String) async throws {
        try await waitUntil("the server on \(socket) answers /v1/health", timeout: .seconds(600)) {
            (try? await blocking { try DaxPoolClient(socketPath: socket).health() }) != nil
        }
    }

    /// Runs blocking socket work on a thread of its own: the server's handlers run on the cooperative pool, which a
    /// blocking call there would hold (a deadlock when other suites do the same on a two-core machine).
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }
}
