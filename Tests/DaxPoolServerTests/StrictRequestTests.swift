import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Foundation
import Hummingbird
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon takes from outside, against the real router on a Unix socket: strict JSON (no duplicate or
/// unknown key, bounded nesting, integers only), one size grammar, printable names, owners that exist, and a 413
/// that closes the connection.
@Suite("strict request input", .timeLimit(.minutes(20)), .serialized)
struct StrictRequestTests {
    /// Users this host "has", for `userExists`.
    static let knownUsers: Set<UInt32> = [0, 4343]

    /// Runs `body` against a daemon's router on a fresh socket, with a 256 MiB default region on a fake backend.
    func withServer(_ body: (DaxPoolClient, String, PoolService) async throws -> Void) async throws {
        let socket = "/tmp/daxpool-strict-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let service = try await PoolService(
            backends: [RecordingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            watcher: ProcessWatcherFake()
        )
        let app = buildApplication(
            service: service, socketPath: socket, logger: Logger(label: "test"),
            userExists: { Self.knownUsers.contains($0) })
        try await RouterCalls.serving(app, socket: socket) { client in
            try await body(client, socket, service)
        }
    }

    static let refusedBodies: [(String, String, String, String)] = [
        (
            "POST", "/v1/devices", #"{"size":"8M","sizee":"16M"}"#,
            #"unknown key "sizee" in the request body; known keys: align, mappings, name, owner, region, size, uuid"#
        ),
        ("POST", "/v1/devices", #"{"size":"8M","size":"16M"}"#, #"duplicate key "size" in the request body"#),
        ("POST", "/v1/devices", #"{"size":"8M","siz\u0065":"16M"}"#, #"duplicate key "size""#),
        ("POST", "/v1/devices", #"{"size":"8M","name":"a","name":"b"}"#, #"duplicate key "name""#),
        (
            "POST", "/v1/devices", #"{"mappings":[{"start":0,"end":8388607,"page_ofset":0}]}"#,
            #"unknown key "page_ofset" in mappings[0]; known keys: end, offset, page_offset, size, start"#
        ),
        (
            "POST", "/v1/devices", #"{"mappings":[{"start":0,"start":4096,"end":8388607}]}"#,
            #"duplicate key "start" in mappings[0]"#
        ),
        ("POST", "/v1/devices", #"{"size":"8M","uuid":{"a":1,"a":2}}"#, #"duplicate key "a" in uuid"#),
        ("POST", "/v1/devices", #"{"size":"8M","x\u202Ey":1}"#, #"unknown key "x\u202Ey""#),
        ("POST", "/v1/devices", #"{"size":8388608.0}"#, "integers"),
        ("POST", "/v1/devices", #"{"size":8e6}"#, "integers"),
        ("POST", "/v1/devices", #"{"size":"8M"} {}"#, "bytes after the JSON object"),
        ("POST", "/v1/devices", #"{"size":"8M","name":"\ud800"}"#, "lone high surrogate"),
        (
            "POST", "/v1/regions", #"{"backend":"shm","size":"64M","paht":"/dev/shm/x"}"#,
            #"unknown key "paht" in the request body"#
        ),
        ("POST", "/v1/regions", #"{"backend":"shm","backend":"sim","size":"64M"}"#, #"duplicate key "backend""#),
        ("PUT", "/v1/regions/0/pool", #"{"pool":[],"pools":["8M"]}"#, #"unknown key "pools""#),
        ("PATCH", "/v1/devices/dax0.0", #"{"size":"16M","forced":true}"#, #"unknown key "forced""#),
        ("POST", "/v1/devices/dax0.0/leases", #"{"pid":1,"pid":2}"#, #"duplicate key "pid""#),
        ("POST", "/v1/devices/dax0.0/leases", #"{"process":1}"#, #"unknown key "process""#),
        ("POST", "/v1/errors", #"{"device":"dax0.0","offset":0,"length":4096,"lenght":1}"#, #"unknown key "lenght""#),
        ("POST", "/v1/errors/clear", #"{"region":0,"region_offset":0,"length":4096,"region":1}"#, "duplicate key"),
    ]

    @Test(
        "a body with a duplicate or unknown key, a fraction or trailing bytes answers 400 naming the key, on every route"
    )
    func duplicateAndUnknownKeys() async throws {
        try await withServer { client, _, service in
            _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(8)))
            let before = await service.snapshot
            for (method, path, body, expected) in Self.refusedBodies {
                let (status, error) = try await RouterCalls.send(client, method, path, body)
                #expect(status == 400, "\(method) \(path) \(body): \(status)")
                #expect(error?.code == "bad_request", "\(body): \(String(describing: error))")
                #expect(error?.message.contains(expected) == true, "\(body): \(error?.message ?? "no message")")
            }
            #expect(await service.snapshot == before, "a refused body changed the state")
        }
    }

    @Test("bodies nested deeper than 32 levels are refused; 32 levels still parse")
    func nestingDepth() async throws {
        try await withServer { client, _, _ in
            let deep =
                #"{"size":"8M","name":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
                + "}"
            let (status, error) = try await RouterCalls.send(client, "POST", "/v1/devices", deep)
            #expect(status == 400)
            #expect(error?.message.contains("deeper than 32 levels") == true, "\(String(describing: error))")
            // 31 arrays inside the top-level object: the depth limit is not what refuses it (a name is no array).
            let allowed = #"{"name":"# + String(repeating: "[", count: 31) + String(repeating: "]", count: 31) + "}"
            let (_, shallow) = try await RouterCalls.send(client, "POST", "/v1/devices", allowed)
            #expect(shallow?.message.contains("deeper") == false, "\(String(describing: shallow))")
        }
    }

    @Test("sizes outside the grammar (B or iB suffixes, spaces, signs, 0X) are refused and create nothing")
    func strictSizes() async throws {
        try await withServer { client, _, service in
            let before = await service.snapshot
            for size in ["2MB", "2MiB", " 2M", "2M ", "+2M", "2 M", "0X200000", "2m\u{200B}"] {
                let body = try String(decoding: JSONEncoder().encode(["size": size]), as: UTF8.self)
                let (status, error) = try await RouterCalls.send(client, "POST", "/v1/devices", body)
                #expect(status == 400, "size \(size.debugDescription): \(status)")
                #expect(error?.message.contains("is not valid") == true, "\(String(describing: error))")
            }
            #expect(await service.snapshot == before)
            let (created, _) = try await RouterCalls.send(client, "POST", "/v1/devices", #"{"size":"0x200000"}"#)
            #expect(created == 201)
            #expect(throws: PoolSpec.ParseError.self) { try PoolSpec.parse("2Mx+4") }
            #expect(throws: PoolSpec.ParseError.self) { try PoolSpec.parse("2MBx4") }
            #expect(try PoolSpec.parse("2Mx2,0x400000") == [.mebibytes(2), .mebibytes(2), .mebibytes(4)])
        }
    }

    @Test("names with bidi, zero-width or control characters, or of the form of a device id or uuid, are refused")
    func strictNames() async throws {
        try await withServer { client, _, service in
            let before = await service.snapshot
            for name in [
                "evil\u{202E}gpj", "vm\u{200B}1", "a\u{1B}[2J", "dax0.7", "DAX1.2", "0.0", "region0.pool",
                "5b405e8d-700e-4499-9e09-1967d5637178", "a\u{2028}b",
            ] {
                let body = try String(decoding: JSONEncoder().encode(["size": "8M", "name": name]), as: UTF8.self)
                let (status, error) = try await RouterCalls.send(client, "POST", "/v1/devices", body)
                #expect(status == 400, "name \(name.debugDescription): \(status)")
                #expect(error?.message.contains("name") == true, "\(String(describing: error))")
            }
            #expect(await service.snapshot == before)
        }
    }

    @Test("an owner uid that names no user answers 400 unknown_owner naming the uid; an existing one is accepted")
    func ownersMustExist() async throws {
        try await withServer { client, _, service in
            let before = await service.snapshot
            let (status, error) = try await RouterCalls.send(
                client, "POST", "/v1/devices", #"{"size":"8M","owner":4242}"#)
            #expect(status == 400)
            #expect(error?.code == "unknown_owner")
            #expect(error?.message.contains("4242") == true, "\(String(describing: error))")
            #expect(await service.snapshot == before)
            let (created, _) = try await RouterCalls.send(client, "POST", "/v1/devices", #"{"size":"8M","owner":4343}"#)
            #expect(created == 201)
            #expect(try await service.device("dax0.0").owner == 4343)
        }
    }

    @Test("the real user lookup knows root and not a uid no one has")
    func userLookup() {
        #expect(UserLookup.exists(0))
        #expect(!UserLookup.exists(3_999_999_999))
    }

    @Test("a 413 answer closes the connection at once instead of waiting for the rest of the body or a timeout")
    func payloadTooLargeCloses() async throws {
        try await withServer { _, socket, service in
            let before = await service.snapshot
            let fd = try Self.connect(socket)
            defer { close(fd) }
            let body = [UInt8](repeating: UInt8(ascii: " "), count: 2 << 20)
            let head = Array(
                "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                    .utf8)
            let started = ContinuousClock.now
            let (answer, ending) = try await RouterCalls.blocking {
                Self.exchange(fd, send: head + body, deadline: .seconds(8))
            }
            let text = String(decoding: answer, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 413"), "\(text.prefix(200))")
            #expect(text.lowercased().contains("connection: close"))
            #expect(ending == .closed, "the server kept the connection open (\(ending)) after \(text.prefix(80))")
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(await service.snapshot == before)
        }
    }

    /// How an exchange on a raw socket ended.
    enum Ending: Equatable { case closed, timedOut }

    /// Sends `bytes` while reading the answer (a server may answer before it has read everything), until the server
    /// closes the connection (`read` returns 0 or the connection is reset) or `deadline` passes.
    static func exchange(_ fd: Int32, send bytes: [UInt8], deadline: Duration) -> ([UInt8], Ending) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let end = ContinuousClock.now + deadline
        var offset = 0
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < end {
            var descriptor = pollfd(
                fd: fd, events: Int16(POLLIN) | (offset < bytes.count ? Int16(POLLOUT) : 0), revents: 0)
            guard poll(&descriptor, 1, 100) >= 0 || errno == EINTR else { break }
            if descriptor.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let count = read(fd, &chunk, chunk.count)
                if count > 0 {
                    answer += chunk[0..<count]
                    continue
                }
                if count == 0 || errno == ECONNRESET { return (answer, .closed) }
                if errno != EAGAIN && errno != EINTR { return (answer, .closed) }
            }
            if descriptor.revents & Int16(POLLOUT) != 0 {
                let sent = bytes.withUnsafeBytes { raw in
                    Glibc.send(fd, raw.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
                }
                if sent > 0 {
                    offset += sent
                } else if errno != EAGAIN && errno != EINTR {
                    offset = bytes.count  // EPIPE: the server closed; read what it said
                }
            }
        }
        return (answer, .timedOut)
    }

    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 { close(fd) }
        try #require(connected == 0, "connect to \(path): errno \(errno)")
        return fd
    }
}

/// Progress belongs to the device's owner: the hub hands each reader only what its audience sees.
@Suite("progress visibility in the hub", .timeLimit(.minutes(20)))
struct ProgressAudienceTests {
    @Test("the prefault and the later scrub of a tenant's device are the tenant's; another tenant sees neither")
    func serviceOperationsCarryOwners() async throws {
        let service = try await PoolService(
            backends: [ScrubbingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            policy: AccessPolicy(daemonUID: 999, creatorUsers: [4242, 4343])
        )
        let scrubbing = Task { try await ScrubService(service: service, logger: Logger(label: "test")).run() }
        defer { scrubbing.cancel() }
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .hugetlb, size: ByteCount.mebibytes(64), path: "/fake/region0"))
        let alice = Caller(uid: 4242, gid: 4242, pid: 100)
        let device = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(64)), by: alice)
        _ = try await service.destroyDevice(device.chardev, force: true, by: alice)
        try await waitUntil("the destroyed device's scrub finished") {
            service.progress.latest.contains(where: { $0.kind == .scrub && $0.state != .running })
        }
        let alices = service.progress.latest(for: .owner(4242))
        #expect(alices.map(\.kind) == [.prefault, .scrub], "\(alices)")
        #expect(alices.allSatisfy { $0.deviceUUID == device.uuid })
        #expect(service.progress.latest(for: .owner(4343)).isEmpty)
        #expect(service.progress.latest(for: .everything).count == 2)
    }

    @Test("an owner sees only its own devices' operations, never a pool fill; administrators see everything")
    func audiences() async throws {
        let hub = ProgressHub()
        let mine = LabelUUID(high: 1, low: 1)
        let theirs = LabelUUID(high: 2, low: 2)
        let (_, stream) = hub.subscribe(.owner(4242))
        let a = hub.start(
            .prefault, region: 0, device: DeviceID(region: 0, instance: 0), uuid: mine, name: nil,
            total: .mebibytes(2), owner: 4242)
        _ = hub.start(
            .prefault, region: 0, device: DeviceID(region: 0, instance: 1), uuid: theirs, name: nil,
            total: .mebibytes(2), owner: 4343)
        _ = hub.startFill(region: 0, total: .mebibytes(2))
        // The scrub of a destroyed device stays its owner's.
        hub.rememberOwner(4242, of: mine)
        let scrub = hub.start(
            .scrub, region: 0, device: DeviceID(region: 0, instance: 0), uuid: mine, name: nil, total: .mebibytes(2))
        hub.finish(a)
        hub.finish(scrub)
        #expect(hub.latest(for: .owner(4242)).map(\.deviceUUID) == [mine.description, mine.description])
        #expect(hub.latest(for: .owner(4343)).map(\.deviceUUID) == [theirs.description])
        #expect(hub.latest(for: .owner(1)).isEmpty)
        #expect(hub.latest(for: .everything).count == 4)
        #expect(hub.latest.contains { $0.kind == .fill })
        hub.finishSubscribers()
        var streamed: [ProgressEvent] = []
        for await event in stream { streamed.append(event) }
        #expect(!streamed.isEmpty)
        #expect(streamed.allSatisfy { $0.deviceUUID == mine.description }, "\(streamed.map(\.device))")
    }
}
