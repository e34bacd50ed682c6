import Foundation
import Testing

/// Every bad input gets a non-zero exit and one JSON error object, and leaves state and files as they were.
@Suite("bad input", .timeLimit(.minutes(20)), .serialized)
struct BadInputTests {
    static let cases: [(String, [String], String)] = [
        ("zero size", ["create-device", "-s", "0"], "bad_request"),
        ("unaligned size", ["create-device", "-s", "3K"], "misaligned"),
        ("size over available", ["create-device", "-s", "1G"], "insufficient_space"),
        ("unparseable size", ["create-device", "-s", "lots"], "bad_request"),
        ("bad alignment", ["create-device", "-s", "2M", "-a", "8K"], "bad_request"),
        ("unknown region", ["create-device", "-r", "7", "-s", "2M"], "not_found"),
        ("unknown device", ["destroy-device", "dax0.9"], "not_found"),
        ("unknown device resize", ["reconfigure-device", "nope", "-s", "2M"], "not_found"),
        ("duplicate name", ["create-device", "-s", "2M", "--name", "taken"], "conflict"),
        (
            "duplicate uuid", ["create-device", "-s", "2M", "--uuid", "5b405e8d-700e-4499-9e09-1967d5637178"],
            "conflict"
        ),
        ("bad uuid", ["create-device", "-s", "2M", "--uuid", "xyz"], "bad_request"),
        ("name with slash", ["create-device", "-s", "2M", "--name", "a/b"], "bad_request"),
        ("name dot-dot", ["create-device", "-s", "2M", "--name", ".."], "bad_request"),
        (
            "name over 63 bytes", ["create-device", "-s", "2M", "--name", String(repeating: "n", count: 64)],
            "bad_request"
        ),
        ("missing input file", ["create-device", "--input", "/nonexistent/input.json"], "bad_input"),
        (
            "region with relative path", ["create-region", "--backend", "shm", "-s", "64M", "--path", "rel/dir"],
            "bad_request"
        ),
        (
            "region with dot-dot path",
            ["create-region", "--backend", "shm", "-s", "64M", "--path", "/dev/shm/../etc"], "bad_request"
        ),
        ("unknown backend", ["create-region", "--backend", "floppy", "-s", "64M"], "usage"),
        ("destroy busy region", ["destroy-region", "0"], "region_busy"),
        (
            "pool size not whole pages", ["create-region", "--backend", "shm", "-s", "64M", "--pool", "3K"],
            "bad_request"
        ),
        ("pool over the region", ["create-region", "--backend", "shm", "-s", "64M", "--pool", "32Mx3"], "bad_request"),
        ("pool count zero", ["create-region", "--backend", "shm", "-s", "64M", "--pool", "8Mx0"], "bad_request"),
        ("pool empty item", ["create-region", "--backend", "shm", "-s", "64M", "--pool", "8M,,8M"], "bad_request"),
        ("pool unparseable", ["create-region", "--backend", "shm", "-s", "64M", "--pool", "lots"], "bad_request"),
        ("pool on sim", ["create-region", "--backend", "sim", "-s", "1G", "--pool", "8M"], "bad_request"),
        ("set-pool unknown region", ["set-pool", "-r", "7", "8M"], "not_found"),
        ("set-pool over the region", ["set-pool", "-r", "0", "1G"], "bad_request"),
        ("set-pool too many files", ["set-pool", "-r", "0", "4Kx257"], "bad_request"),
    ]

    @Test("each bad command fails with one JSON error and changes nothing")
    func badCommands() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        #expect(
            daemon.cli([
                "create-device", "-s", "16M", "--name", "taken", "--uuid", "5b405e8d-700e-4499-9e09-1967d5637178",
            ]).status == 0)
        let stateBefore = daemon.cli(["list", "-R", "-M"]).stdout
        let filesBefore = daemon.shmFiles()
        for (label, arguments, code) in Self.cases {
            let result = daemon.cli(arguments)
            #expect(result.status != 0, "\(label): exit status")
            let error = try daemon.errorObject(result, label: label)
            #expect(error["code"] as? String == code, "\(label): \(result.stderr)")
            #expect(!((error["message"] as? String) ?? "").isEmpty, "\(label): message")
            #expect(daemon.cli(["list", "-R", "-M"]).stdout == stateBefore, "\(label): state changed")
            #expect(daemon.shmFiles() == filesBefore, "\(label): files changed")
        }
        let tooBig = try daemon.errorObject(daemon.cli(["create-device", "-s", "1G"]), label: "too big")
        #expect((tooBig["message"] as? String)?.contains("\(240 << 20) bytes available") == true)
    }

    @Test("malformed --input files are refused with a clear error")
    func malformedInput() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        defer { daemon.stop() }
        let inputs = [
            "not json",
            "{\"chardev\":\"dax0.0\",\"size\":2097152}",
            "[{\"chardev\":\"dax0.0\",\"size\":2097152,\"mappings\":[]}]",
            "{\"chardev\":\"dax0.0\",\"size\":4194304,\"mappings\":[{\"page_offset\":0,\"start\":0,\"end\":2097151}]}",
            "{\"chardev\":\"dax0.0\",\"size\":2097152,\"mappings\":[{\"page_offset\":0,\"start\":4096,\"end\":2101247}]}",
            "{\"chardev\":\"dax0.0\",\"size\":2097152,\"mappings\":[{\"page_offset\":0,\"start\":2097151,\"end\":0}]}",
            "{\"chardev\":\"dax0.0\",\"size\":2097152,\"mappings\":[{\"page_offset\":0,\"start\":0,\"end\":-5}]}",
        ]
        let before = daemon.cli(["list", "-R", "-M"]).stdout
        for (index, text) in inputs.enumerated() {
            let path = "\(daemon.root)/bad-\(index).json"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let result = daemon.cli(["create-device", "--input", path])
            #expect(result.status != 0, "input \(index)")
            _ = try daemon.errorObject(result, label: "input \(index)")
            #expect(daemon.cli(["list", "-R", "-M"]).stdout == before, "input \(index) changed state")
        }
    }

    @Test("malformed API bodies get 400 with the JSON error schema and change nothing")
    func malformedBodies() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "64M")
        defer { daemon.stop() }
        let before = daemon.cli(["list", "-R", "-M"]).stdout
        let bodies = [
            "", "{", "[]", "{\"size\": -1}", "{\"size\": \"12Q\"}", "{\"size\": 1.5}", "{\"size\": true}",
            "{\"size\": 2097152, \"name\": \"a\\u0000b\"}", "{\"size\": 2097152, \"name\": \"../../etc\"}",
            "{\"size\": 184467440737095516160}", "{\"region\": \"zero\", \"size\": 2097152}",
            "{\"size\": 2097152, \"mappings\": [{\"start\": 0}]}",
        ]
        for body in bodies {
            let response = try rawRequest(socket: daemon.socket, method: "POST", path: "/v1/devices", body: body)
            #expect(response.status == 400, "body \(body): \(response.status) \(response.body)")
            let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
            #expect(object?["code"] != nil && object?["message"] != nil, "body \(body)")
        }
        let unknown = try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/nothing", body: nil)
        #expect(unknown.status == 404)
        #expect(daemon.cli(["list", "-R", "-M"]).stdout == before)
    }

    @Test("a dead daemon gives a JSON error that says how to start it")
    func deadDaemon() throws {
        let daemon = try DaemonHarness()
        let result = daemon.cli(["list"], socket: daemon.root + "/nobody.sock")
        #expect(result.status != 0)
        let error = try daemon.errorObject(result, label: "dead daemon")
        #expect(error["code"] as? String == "daemon_unreachable")
        #expect((error["message"] as? String)?.contains("daxpool serve") == true)
    }
}

extension DaemonHarness {
    func errorObject(_ result: Result, label: String) throws -> [String: Any] {
        do {
            return try result.error()
        } catch {
            Issue.record("\(label): stderr is not one JSON object: \(result.stderr)")
            return [:]
        }
    }
}

/// One HTTP request over the daemon's Unix socket with a raw body, as a hostile client would send it.
/// A connected Unix stream socket to `socket`; the caller closes it.
func connectUnixSocket(_ socket: String) throws -> Int32 {
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket failed") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in socket.utf8.enumerated() { raw[index] = byte }
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    guard connected == 0 else {
        close(fd)
        throw HarnessError("connect failed")
    }
    return fd
}

func rawRequest(socket: String, method: String, path: String, body: String?) throws -> (status: Int, body: String) {
    let fd = try connectUnixSocket(socket)
    defer { close(fd) }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if let body {
        request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    } else {
        request += "\r\n"
    }
    // Send and receive together, as a real client does: a server may answer (and even close) before it reads
    // a huge body, so stop sending once the answer arrives.
    let payload = Array(request.utf8)
    var offset = 0
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    while true {
        var descriptor = pollfd(
            fd: fd, events: Int16(POLLIN) | (offset < payload.count ? Int16(POLLOUT) : 0), revents: 0)
        let ready = poll(&descriptor, 1, 10_000)
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { throw HarnessError("no answer within 10 s to \(method) \(path)") }
        if descriptor.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            let count = read(fd, &chunk, chunk.count)
            if count > 0 {
                bytes += chunk[0..<count]
                offset = payload.count
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            break
        }
        if descriptor.revents & Int16(POLLOUT) != 0 {
            let sent = payload.withUnsafeBytes { raw in
                send(fd, raw.baseAddress.map { $0 + offset }, payload.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 { offset += sent } else if errno != EAGAIN && errno != EINTR { offset = payload.count }
        }
    }
    let text = String(decoding: bytes, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let bodyText = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, bodyText)
}
