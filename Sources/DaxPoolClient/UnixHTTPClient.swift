import DaxPoolSystem
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/1.1 client over a Unix domain socket: one request per call on a kept-alive
/// connection, `Content-Length` and chunked responses. Enough for the CLI, the tests and benchmarks,
/// and nothing that pulls in TLS or Foundation's URL loading.
public final class UnixHTTPClient {
    /// The path of the daemon's Unix socket.
    public let socketPath: String
    private var descriptor: Int32 = -1

    /// A client for the socket at `socketPath`; it connects on the first request.
    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    deinit {
        if descriptor >= 0 { try? Syscall.close(descriptor) }
    }

    /// A response: status code and body bytes.
    public struct Response: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// The body as received, after any chunked encoding is undone.
        public var body: [UInt8]
    }

    /// Why a request did not get a response.
    public enum ClientError: Error, CustomStringConvertible {
        case connect(path: String, errno: Int32)
        case io(String, errno: Int32)
        case malformed(String)

        /// What failed, with the errno's text, and for `connect` how to start the daemon.
        public var description: String {
            switch self {
            case .connect(let path, let code):
                "cannot reach the daxpool daemon at \(path): \(String(cString: strerror(code))); "
                    + "start it with 'daxpool serve' or set DAXPOOL_SOCKET"
            case .io(let what, let code):
                "talking to the daemon failed (\(what)): \(String(cString: strerror(code)))"
            case .malformed(let what):
                "the daemon sent a malformed response: \(what)"
            }
        }
    }

    /// Sends one request and reads the whole response. Retries once on a connection the server closed.
    public func send(method: String, path: String, body: [UInt8]? = nil) throws(ClientError) -> Response {
        let reused = descriptor >= 0
        do {
            return try attempt(method: method, path: path, body: body)
        } catch {
            disconnect()
            if reused { return try attempt(method: method, path: path, body: body) }
            throw error
        }
    }

    private func attempt(method: String, path: String, body: [UInt8]?) throws(ClientError) -> Response {
        if descriptor < 0 { try connectSocket() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: daxpool\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        } else if method == "POST" || method == "PATCH" || method == "PUT" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if let body { bytes += body }
        try writeAll(bytes)
        return try readResponse()
    }

    /// Sends a GET and hands each line of the (chunked or length-delimited) body to `onLine` as it arrives,
    /// until the body ends or `onLine` returns false. Returns the status.
    public func streamLines(path: String, onLine: (String) -> Bool) throws(ClientError) -> Int {
        disconnect()
        try connectSocket()
        defer { disconnect() }
        try writeAll(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: daxpool\r\n\r\n".utf8))
        let head = try readHead()
        var pending: [UInt8] = []
        var stopped = false
        func deliver(_ bytes: [UInt8]) {
            pending += bytes
            while !stopped, let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[0..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                stopped = !onLine(line)
            }
        }
        if head.chunked {
            while !stopped {
                let size = try readChunkSize()
                if size == 0 { break }
                let bytes = try readExactly(size)
                _ = try readLine()
                deliver(bytes)
            }
        } else if let contentLength = head.contentLength {
            deliver(try readExactly(contentLength))
        }
        // A last line without its newline ends the body; after `onLine` said stop, nothing more is handed over.
        if !stopped, !pending.isEmpty { _ = onLine(String(decoding: pending, as: UTF8.self)) }
        return head.status
    }

    private func connectSocket() throws(ClientError) {
        let fd: CInt
        do throws(Errno) {
            fd = try Syscall.unixSocket(.stream)
        } catch {
            throw .connect(path: socketPath, errno: error.rawValue)
        }
        do throws(Errno) {
            try Syscall.connect(fd, toUnixPath: socketPath)
        } catch {
            try? Syscall.close(fd)
            throw .connect(path: socketPath, errno: error.rawValue)
        }
        descriptor = fd
    }

    private func disconnect() {
        if descriptor >= 0 { try? Syscall.close(descriptor) }
        descriptor = -1
        buffer.removeAll()
    }

    private func writeAll(_ bytes: [UInt8]) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Result { () throws(Errno) in
                    try Syscall.send(descriptor, UnsafeRawBufferPointer(rebasing: raw[offset...]), flags: .noSignal)
                }
            }
            switch written {
            case .success(let count): offset += count
            case .failure(let error): throw .io("write", errno: error.rawValue)
            }
        }
    }

    private var buffer: [UInt8] = []

    private func fill() throws(ClientError) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let received = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) in try Syscall.receive(descriptor, into: raw) }
            }
            let count: Int
            switch received {
            case .success(let value): count = value
            case .failure(let error): throw .io("read", errno: error.rawValue)
            }
            if count == 0 { throw .malformed("connection closed") }
            buffer += chunk[0..<count]
            return
        }
    }

    private func readLine() throws(ClientError) -> String {
        while true {
            if let index = buffer.firstIndex(of: 10) {
                var line = Array(buffer[0..<index])
                buffer.removeFirst(index + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard buffer.count < 1 << 16 else { throw .malformed("header line too long") }
            try fill()
        }
    }

    /// The most a body may hold: far above any answer of the daemon (a list of ten thousand devices is a few MiB),
    /// so that a broken or hostile peer cannot make the client buffer without end.
    public static let maximumBodySize = 256 << 20

    private func readExactly(_ count: Int) throws(ClientError) -> [UInt8] {
        guard count >= 0, count <= Self.maximumBodySize else {
            throw .malformed("a body of \(count) bytes (at most \(Self.maximumBodySize) are read)")
        }
        while buffer.count < count { try fill() }
        let bytes = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// The status line and headers of an answer, as far as the client needs them.
    private struct Head {
        var status: Int
        var contentLength: Int?
        var chunked = false
        var closeAfter = false
    }

    private func readHead() throws(ClientError) -> Head {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .malformed("status line '\(statusLine)'")
        }
        var head = Head(status: status)
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters()
            switch name {
            case "content-length":
                guard let length = Int(value), length >= 0 else { throw .malformed("Content-Length '\(value)'") }
                head.contentLength = length
            case "transfer-encoding": head.chunked = value.lowercased().contains("chunked")
            case "connection": head.closeAfter = value.lowercased() == "close"
            default: break
            }
        }
        return head
    }

    private func readChunkSize() throws(ClientError) -> Int {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";").first.map(String.init) ?? "", radix: 16), size >= 0 else {
            throw .malformed("chunk size '\(sizeLine)'")
        }
        return size
    }

    private func readResponse() throws(ClientError) -> Response {
        var head = try readHead()
        var body: [UInt8] = []
        if head.chunked {
            while true {
                let size = try readChunkSize()
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                guard size <= Self.maximumBodySize - body.count else {
                    throw .malformed("a chunked body past \(Self.maximumBodySize) bytes")
                }
                body += try readExactly(size)
                _ = try readLine()
            }
        } else if let contentLength = head.contentLength {
            body = try readExactly(contentLength)
        } else if head.status != 204 && head.status != 304 {
            head.closeAfter = true
            do {
                while buffer.count <= Self.maximumBodySize { try fill() }
            } catch {}
            guard buffer.count <= Self.maximumBodySize else {
                disconnect()
                throw .malformed("a body read to its end past \(Self.maximumBodySize) bytes")
            }
            body = buffer
            buffer.removeAll()
        }
        if head.closeAfter { disconnect() }
        return Response(status: head.status, body: body)
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
