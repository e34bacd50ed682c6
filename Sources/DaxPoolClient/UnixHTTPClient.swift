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
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw .malformed("status line '\(statusLine)'") }
        var chunked = false
        var contentLength: Int?
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            let lower = line.lowercased()
            if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
            if lower.hasPrefix("content-length:") {
                contentLength = Int(line.split(separator: ":")[1].trimmingCharacters())
            }
        }
        var pending: [UInt8] = []
        func deliver(_ bytes: [UInt8]) -> Bool {
            pending += bytes
            while let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[0..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                if !onLine(line) { return false }
            }
            return true
        }
        if chunked {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
                    throw .malformed("chunk size '\(sizeLine)'")
                }
                if size == 0 { break }
                let bytes = try readExactly(size)
                _ = try readLine()
                if !deliver(bytes) { break }
            }
        } else if let contentLength {
            _ = deliver(try readExactly(contentLength))
        }
        if !pending.isEmpty { _ = onLine(String(decoding: pending, as: UTF8.self)) }
        return status
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

    private func readExactly(_ count: Int) throws(ClientError) -> [UInt8] {
        while buffer.count < count { try fill() }
        let bytes = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return bytes
    }

    private func readResponse() throws(ClientError) -> Response {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .malformed("status line '\(statusLine)'")
        }
        var contentLength: Int?
        var chunked = false
        var closeAfter = false
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters()
            switch name {
            case "content-length": contentLength = Int(value)
            case "transfer-encoding": chunked = value.lowercased().contains("chunked")
            case "connection": closeAfter = value.lowercased() == "close"
            default: break
            }
        }
        var body: [UInt8] = []
        if chunked {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
                    throw .malformed("chunk size '\(sizeLine)'")
                }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readExactly(size)
                _ = try readLine()
            }
        } else if let contentLength {
            body = try readExactly(contentLength)
        } else if status != 204 && status != 304 {
            closeAfter = true
            do {
                while true { try fill() }
            } catch {}
            body = buffer
            buffer.removeAll()
        }
        if closeAfter { disconnect() }
        return Response(status: status, body: body)
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
