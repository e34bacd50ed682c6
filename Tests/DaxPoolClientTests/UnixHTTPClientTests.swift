// Linux only.
import DaxPoolAPI
import DaxPoolClient
import Foundation
import Glibc
import Synchronization
import Testing

@Suite("UnixHTTPClient against a real Unix socket server", .timeLimit(.minutes(20)))
struct UnixHTTPClientTests {
    /// Runs `body` with a scripted server and stops the server after it, whatever happens.
    @discardableResult
    func withServer<T>(
        _ handler: @escaping @Sendable (String) -> ScriptedServer.Reply, _ body: (ScriptedServer) throws -> T
    ) throws -> T {
        let server = try ScriptedServer(handler)
        defer { server.stop() }
        return try body(server)
    }

    @Test("a Content-Length answer comes back whole, and the request carries its method, path, length and body")
    func contentLengthResponse() throws {
        try withServer({ _ in .send(response("201 Created", body: #"{"ok":true}"#)) }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            let answer = try client.send(method: "POST", path: "/v1/devices", body: Array(#"{"size":"2M"}"#.utf8))
            #expect(answer.status == 201)
            #expect(String(decoding: answer.body, as: UTF8.self) == #"{"ok":true}"#)
            let request = try #require(server.requests.first)
            #expect(request.hasPrefix("POST /v1/devices HTTP/1.1\r\n"))
            #expect(request.contains("Content-Length: 13\r\n"))
            #expect(request.hasSuffix("\r\n\r\n" + #"{"size":"2M"}"#))
        }
    }

    @Test("a chunked answer is put back together, with chunk extensions and trailers skipped")
    func chunkedResponse() throws {
        let chunked = response(
            "200 OK", ["Transfer-Encoding: chunked"],
            body: Array("5;name=value\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n".utf8))
        try withServer({ _ in .send(chunked) }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            let answer = try client.send(method: "GET", path: "/v1/progress")
            #expect(answer.status == 200)
            #expect(String(decoding: answer.body, as: UTF8.self) == "hello, world")
            // The trailers were read: the connection is ready for the next answer.
            let again = try client.send(method: "GET", path: "/v1/progress")
            #expect(String(decoding: again.body, as: UTF8.self) == "hello, world")
            #expect(server.connections == 1)
        }
    }

    @Test("requests share one kept-alive connection, and a body-less POST says Content-Length: 0")
    func keepAlive() throws {
        try withServer({ _ in .send(response("200 OK", body: "{}")) }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            for _ in 0..<5 {
                let answer = try client.send(method: "GET", path: "/v1/health")
                #expect(answer.status == 200)
            }
            let posted = try client.send(method: "POST", path: "/v1/devices/a/enable")
            #expect(posted.status == 200)
            #expect(server.connections == 1)
            #expect(server.requests.count == 6)
            #expect(server.requests.last?.contains("Content-Length: 0\r\n") == true)
        }
    }

    @Test("an answer with Connection: close is followed by a new connection for the next request")
    func connectionClose() throws {
        let closing = response("200 OK", ["Connection: close", "Content-Length: 2"], body: Array("{}".utf8))
        try withServer({ _ in .sendAndClose(closing) }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            let first = try client.send(method: "GET", path: "/v1/health")
            let second = try client.send(method: "GET", path: "/v1/health")
            #expect(first.status == 200 && second.status == 200)
            #expect(server.connections == 2)
        }
    }

    @Test("an answer with neither length nor chunks is read to the end of the connection")
    func readToEnd() throws {
        let unframed = response("200 OK", [], body: Array("all of it".utf8))
        try withServer({ _ in .sendAndClose(unframed) }) { server in
            let answer = try UnixHTTPClient(socketPath: server.socketPath).send(method: "GET", path: "/v1/health")
            #expect(String(decoding: answer.body, as: UTF8.self) == "all of it")
        }
    }

    @Test("a kept-alive connection the server closed in between is replaced once, and the request still succeeds")
    func staleConnectionRetried() throws {
        // The first answer leaves the connection open, then the server closes it without a word on the next request.
        let turn = Mutex(0)
        try withServer({ _ in
            let number = turn.withLock { value in
                value += 1
                return value
            }
            return number == 2 ? .close : .send(response("200 OK", body: "{\"turn\":\(number)}"))
        }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            let first = try client.send(method: "GET", path: "/v1/health")
            #expect(first.status == 200)
            let second = try client.send(method: "GET", path: "/v1/health")
            #expect(String(decoding: second.body, as: UTF8.self) == #"{"turn":3}"#)
            #expect(server.connections == 2)
        }
    }

    @Test("a server that closes before answering a new connection gives an error at once, not a hang or a retry")
    func closedBeforeAnswer() throws {
        try withServer({ _ in .close }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            #expect {
                try client.send(method: "GET", path: "/v1/health")
            } throws: { error in
                "\(error)" == "the daemon sent a malformed response: connection closed"
            }
            #expect(server.requests.count == 1)
        }
    }

    @Test("a server that closes in the middle of a body gives an error, not a short body")
    func closedMidBody() throws {
        let short = response("200 OK", ["Content-Length: 100"], body: Array("only ten!!".utf8))
        let shortChunk = response("200 OK", ["Transfer-Encoding: chunked"], body: Array("64\r\nonly ten!!".utf8))
        for answer in [short, shortChunk] {
            try withServer({ _ in .sendAndClose(answer) }) { server in
                #expect {
                    try UnixHTTPClient(socketPath: server.socketPath).send(method: "GET", path: "/v1/health")
                } throws: { error in
                    "\(error)".contains("connection closed")
                }
            }
        }
    }

    @Test("an answer far larger than the read buffer (8 MiB, plain and chunked) arrives byte for byte")
    func largeResponse() throws {
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<(8 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var chunkedBody: [UInt8] = []
        var offset = 0
        while offset < payload.count {
            let size = min(100_003, payload.count - offset)
            chunkedBody += Array("\(String(size, radix: 16))\r\n".utf8) + payload[offset..<offset + size] + [13, 10]
            offset += size
        }
        chunkedBody += Array("0\r\n\r\n".utf8)
        let answers = [
            response("200 OK", ["Content-Length: \(payload.count)"], body: payload),
            response("200 OK", ["Transfer-Encoding: chunked"], body: chunkedBody),
        ]
        for answer in answers {
            try withServer({ _ in .send(answer) }) { server in
                let received = try UnixHTTPClient(socketPath: server.socketPath).send(method: "GET", path: "/")
                #expect(received.body.count == payload.count)
                #expect(received.body == payload)
            }
        }
    }

    @Test("an oversized head (a 1 MiB header line) is refused as malformed instead of buffered without end")
    func oversizedHeaderLine() throws {
        // The client stops once it holds 64 KiB without a line end; what one read brings on top (up to 64 KiB more)
        // may still be taken, so the line here is far past both.
        let huge = response("200 OK", ["X-Filler: " + String(repeating: "a", count: 1 << 20), "Content-Length: 0"])
        try withServer({ _ in .send(huge) }) { server in
            #expect {
                try UnixHTTPClient(socketPath: server.socketPath).send(method: "GET", path: "/v1/health")
            } throws: { error in
                "\(error)" == "the daemon sent a malformed response: header line too long"
            }
        }
    }

    @Test("a status line that is not HTTP, or a chunk size that is not hex, is refused as malformed")
    func malformedFraming() throws {
        let answers: [([UInt8], String)] = [
            (Array("SMTP 220 hello\r\n\r\n".utf8), "status line 'SMTP 220 hello'"),
            (response("200 OK", ["Transfer-Encoding: chunked"], body: Array("zz\r\n".utf8)), "chunk size 'zz'"),
        ]
        for (answer, what) in answers {
            try withServer({ _ in .sendAndClose(answer) }) { server in
                #expect {
                    try UnixHTTPClient(socketPath: server.socketPath).send(method: "GET", path: "/v1/health")
                } throws: { error in
                    "\(error)" == "the daemon sent a malformed response: \(what)"
                }
            }
        }
    }

    @Test(
        "streamLines hands over each line of a chunked stream, lines split across chunks included, until told to stop")
    func streamLines() throws {
        let stream = response(
            "200 OK", ["Transfer-Encoding: chunked"],
            body: Array("4\r\none\n\r\n5\r\ntwo\nt\r\n5\r\nhree\n\r\n5\r\nfour\n\r\n0\r\n\r\n".utf8))
        try withServer({ _ in .send(stream) }) { server in
            let client = UnixHTTPClient(socketPath: server.socketPath)
            var lines: [String] = []
            let status = try client.streamLines(path: "/v1/events?follow=true") { line in
                lines.append(line)
                return true
            }
            #expect(status == 200)
            #expect(lines == ["one", "two", "three", "four"])
            var first: [String] = []
            _ = try client.streamLines(path: "/v1/events?follow=true") { line in
                first.append(line)
                return first.count < 2
            }
            // The rest of the chunk ("t", part of a line) is not handed over once onLine said stop.
            #expect(first == ["one", "two"])
        }
    }

    @Test("a Content-Length past the client's cap, or below zero, is refused before anything is buffered")
    func bodyCap() throws {
        for length in ["\(UnixHTTPClient.maximumBodySize + 1)", "-5", "99999999999999999999"] {
            try expectMalformed(response("200 OK", ["Content-Length: \(length)"], body: Array("tiny".utf8)))
        }
    }

    @Test("a chunk size past the client's cap is refused as malformed")
    func chunkCap() throws {
        let size = String(UnixHTTPClient.maximumBodySize + 1, radix: 16)
        try expectMalformed(response("200 OK", ["Transfer-Encoding: chunked"], body: Array("\(size)\r\nabc\r\n".utf8)))
    }

    /// Expects a GET answered with `answer` to fail as malformed.
    func expectMalformed(_ answer: [UInt8]) throws {
        try withServer({ _ in .send(answer) }) { server in
            #expect {
                try UnixHTTPClient(socketPath: server.socketPath).send(method: "GET", path: "/v1/health")
            } throws: { error in
                guard case .malformed = error as? UnixHTTPClient.ClientError else { return false }
                return true
            }
        }
    }

    @Test("a missing socket gives a clear error: the path, the reason, and how to start the daemon")
    func missingSocket() throws {
        let path = "/tmp/daxpool-client-test-missing-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        #expect {
            try UnixHTTPClient(socketPath: path).send(method: "GET", path: "/v1/health")
        } throws: { error in
            guard case .connect(let failed, let code) = error as? UnixHTTPClient.ClientError else { return false }
            let text = "\(error)"
            return failed == path && code == ENOENT && text.contains(path)
                && text.contains("No such file or directory") && text.contains("daxpool serve")
                && text.contains("DAXPOOL_SOCKET")
        }
    }

    @Test("a socket file nobody listens on is refused with ECONNREFUSED, naming the path")
    func nobodyListening() throws {
        // A socket bound but not listening: what a killed daemon leaves behind.
        let directory = "/tmp/daxpool-client-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/stale.sock"
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(stale >= 0)
        defer { close(stale) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0)
        #expect {
            try UnixHTTPClient(socketPath: path).send(method: "GET", path: "/v1/health")
        } throws: { error in
            guard case .connect(let failed, let code) = error as? UnixHTTPClient.ClientError else { return false }
            return failed == path && code == ECONNREFUSED && "\(error)".contains("Connection refused")
        }
    }

    @Test("a socket path too long for sockaddr_un fails with ENAMETOOLONG, naming the path, without connecting")
    func pathTooLong() throws {
        let path = "/tmp/" + String(repeating: "d", count: 120) + "/daxpool.sock"
        #expect {
            try UnixHTTPClient(socketPath: path).send(method: "GET", path: "/v1/health")
        } throws: { error in
            guard case .connect(let failed, let code) = error as? UnixHTTPClient.ClientError else { return false }
            return failed == path && code == ENAMETOOLONG && "\(error)".contains("File name too long")
        }
    }

    @Test("a socket path of 107 bytes, the most sockaddr_un holds with its NUL, still connects; 108 does not")
    func longestPath() throws {
        let base = "/tmp/daxpool-client-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path =
            base + "/" + String(repeating: "l", count: 107 - base.utf8.count - "/".utf8.count - "/s".utf8.count)
            + "/s"
        try #require(path.utf8.count == 107)
        let server = try ScriptedServer(at: path) { _ in .send(response("200 OK", body: "{}")) }
        defer { server.stop() }
        #expect(try UnixHTTPClient(socketPath: path).send(method: "GET", path: "/v1/health").status == 200)
        #expect {
            try UnixHTTPClient(socketPath: path + "x").send(method: "GET", path: "/v1/health")
        } throws: { error in
            guard case .connect(_, let code) = error as? UnixHTTPClient.ClientError else { return false }
            return code == ENAMETOOLONG
        }
    }
}

@Suite("DaxPoolClient over a real Unix socket", .timeLimit(.minutes(20)))
struct DaxPoolClientErrorTests {
    @Test("a daemon's JSON error answer is thrown as that error, with its code and message")
    func daemonErrorBody() throws {
        let server = try ScriptedServer { _ in
            .send(response("409 Conflict", body: #"{"code":"device_busy","message":"dax0.1 is busy"}"#))
        }
        defer { server.stop() }
        #expect {
            try DaxPoolClient(socketPath: server.socketPath).destroyDevice("dax0.1", force: false)
        } throws: { error in
            let body = error as? ErrorBody
            return body?.code == "device_busy" && body?.message == "dax0.1 is busy"
        }
        #expect(server.requests.first?.hasPrefix("DELETE /v1/devices/dax0.1 HTTP/1.1\r\n") == true)
    }

    @Test("a missing daemon is daemon_unreachable, with the client's clear message")
    func unreachable() throws {
        let path = "/tmp/daxpool-client-test-none-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        #expect {
            try DaxPoolClient(socketPath: path).health()
        } throws: { error in
            let body = error as? ErrorBody
            return body?.code == "daemon_unreachable" && body?.message.contains(path) == true
                && body?.message.contains("daxpool serve") == true
        }
    }

    @Test("a 2xx answer that is not the expected JSON is bad_response, not a crash")
    func undecodable() throws {
        let server = try ScriptedServer { _ in .send(response("200 OK", body: "not json")) }
        defer { server.stop() }
        #expect {
            try DaxPoolClient(socketPath: server.socketPath).health()
        } throws: { error in
            (error as? ErrorBody)?.code == "bad_response"
        }
    }
}
