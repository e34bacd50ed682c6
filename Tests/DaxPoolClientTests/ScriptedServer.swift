// Linux only.
import Foundation
import Glibc
import Synchronization

/// A real HTTP/1.1 server on a Unix socket in a temporary directory, answering each request as the test scripts it,
/// on a thread of its own: what `UnixHTTPClient` meets in the daemon, and what a broken or hostile one could send.
final class ScriptedServer: @unchecked Sendable {
    // SAFETY: `listener`, `directory` and `socketPath` are lets; `handler` is only called on the server thread; the
    // recorded requests and connection count live in a `Mutex`.

    /// What the server does with one request.
    enum Reply {
        /// Writes these bytes and keeps the connection open for the next request.
        case send([UInt8])
        /// Writes these bytes, then closes the connection.
        case sendAndClose([UInt8])
        /// Closes the connection without a word.
        case close
    }

    let directory: String
    let socketPath: String
    private let listener: Int32
    private let handler: @Sendable (String) -> Reply
    private let recorded = Mutex<(requests: [String], connections: Int)>(([], 0))
    private let finished = DispatchSemaphore(value: 0)

    /// Binds and listens at `path` (default: `s.sock` in a new temporary directory), then serves on a thread until
    /// `stop()`; `handler` gets each request (head and body, as text) and says what to answer.
    init(at path: String? = nil, _ handler: @escaping @Sendable (String) -> Reply) throws {
        self.handler = handler
        socketPath = path ?? "/tmp/daxpool-client-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))/s.sock"
        directory = URL(fileURLWithPath: socketPath).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw ServerError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            let error = errno
            close(listener)
            throw ServerError("bind or listen on \(socketPath): errno \(error)")
        }
        let thread = Thread { [self] in
            serve()
            finished.signal()
        }
        thread.start()
    }

    /// Stops accepting, waits for the server thread to end, and removes the socket's directory.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        finished.wait()
        close(listener)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Every request received so far, in order.
    var requests: [String] { recorded.withLock { $0.requests } }

    /// How many connections were accepted so far.
    var connections: Int { recorded.withLock { $0.connections } }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            recorded.withLock { $0.connections += 1 }
            converse(on: connection)
            close(connection)
        }
    }

    /// Answers requests on one connection until the client closes it or the script says to close.
    private func converse(on connection: Int32) {
        var pending: [UInt8] = []
        while true {
            guard let request = Self.readRequest(connection, &pending) else { return }
            recorded.withLock { $0.requests.append(request) }
            switch handler(request) {
            case .send(let bytes):
                guard Self.writeAll(connection, bytes) else { return }
            case .sendAndClose(let bytes):
                _ = Self.writeAll(connection, bytes)
                return
            case .close:
                return
            }
        }
    }

    /// One request (head, then as many body bytes as its `Content-Length` says), or `nil` at end of file.
    private static func readRequest(_ connection: Int32, _ pending: inout [UInt8]) -> String? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        func headEnd() -> Int? {
            guard pending.count >= separator.count else { return nil }
            for index in 0...(pending.count - separator.count)
            where pending[index..<index + separator.count].elementsEqual(separator) {
                return index + separator.count
            }
            return nil
        }
        while headEnd() == nil {
            guard readMore(connection, &pending) else { return nil }
        }
        guard let end = headEnd() else { return nil }
        let head = String(decoding: pending[0..<end], as: UTF8.self)
        let length =
            head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        while pending.count < end + length {
            guard readMore(connection, &pending) else { return nil }
        }
        let request = String(decoding: pending[0..<end + length], as: UTF8.self)
        pending.removeFirst(end + length)
        return request
    }

    private static func readMore(_ connection: Int32, _ pending: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            pending += chunk[0..<count]
            return true
        }
    }

    private static func writeAll(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(connection, raw.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }
}

/// A response's bytes: a status line, the headers given, a blank line and the body.
func response(_ status: String, _ headers: [String], body: [UInt8] = []) -> [UInt8] {
    Array(("HTTP/1.1 \(status)\r\n" + headers.map { "\($0)\r\n" }.joined() + "\r\n").utf8) + body
}

/// A response with a `Content-Length` body.
func response(_ status: String, body text: String) -> [UInt8] {
    response(status, ["Content-Type: application/json", "Content-Length: \(text.utf8.count)"], body: Array(text.utf8))
}

struct ServerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
