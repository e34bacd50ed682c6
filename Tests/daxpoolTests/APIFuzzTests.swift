import DaxPoolTestSupport
import Foundation
import Testing

/// Hostile input against a live daemon: no crash, no 5xx, no state change from a rejected request, no
/// descriptor leak.
@Suite("API fuzz", .timeLimit(.minutes(20)), .serialized)
struct APIFuzzTests {
    static func descriptorCount(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    struct Generator {
        var rng: SplitMix64

        mutating func pick<T>(_ items: [T]) -> T { items[Int(rng.next() % UInt64(items.count))] }

        mutating func sizeValue() -> String {
            pick([
                "-1", "0", "1", "4095", "4096", "2097152", "18446744073709551615", "18446744073709551616",
                "1e30", "1.5", "\"abc\"", "\"1Q\"", "\"2M\"", "\"0x\"", "\"0x200000\"", "true", "null", "[]", "{}",
                "\"\u{1F600}\"", "\"99999999999T\"", "\"-2M\"", "\"4K\"",
            ])
        }

        mutating func name() -> String {
            pick([
                "\"\"", "\"a/b\"", "\"..\"", "\".\"", "\"a\\u0000b\"", "\"\(String(repeating: "x", count: 64))\"",
                "\"\(String(repeating: "é", count: 40))\"", "\"\u{1D518}\u{1D518}\"", "\"../../etc/passwd\"", "\"ok\"",
                "\"\\n\"", "17", "null", "\"%2e%2e\"",
            ])
        }

        mutating func body() -> String? {
            switch rng.next() % 12 {
            case 0: return nil
            case 1: return ""
            case 2: return "{"
            case 3: return String(repeating: "[", count: 5000)
            case 4: return "{\"size\": \(sizeValue()), \"name\": \(name())}"
            case 5:
                return
                    "{\"size\": \(sizeValue()), \"align\": \(sizeValue()), \"region\": \(pick(["0", "-1", "99", "\"0\"", "1e9"]))}"
            case 6:
                return
                    "{\"size\": \(sizeValue()), \"uuid\": \(pick(["\"x\"", "\"5b405e8d-700e-4499-9e09-1967d5637178\"", "1", "\"\(UUID().uuidString)\""]))}"
            case 7:
                return
                    "{\"mappings\": [{\"start\": \(sizeValue()), \"end\": \(sizeValue()), \"page_offset\": \(sizeValue())}]}"
            case 8:
                return
                    "{\"backend\": \(pick(["\"shm\"", "\"sim\"", "\"floppy\"", "1"])), \"size\": \(sizeValue()), \"path\": \(pick(["\"rel\"", "\"/dev/shm/../etc\"", "\"/\"", "\"/dev/shm/\\u0000\"", "null"]))}"
            case 9: return "{\"device\": \(name()), \"offset\": \(sizeValue()), \"length\": \(sizeValue())}"
            case 10:
                let valid = "{\"size\": \"2M\", \"name\": \"n\(rng.next() % 1000)\"}"
                return String(valid.prefix(Int(rng.next() % UInt64(valid.count))))
            default: return "{\"size\": \(sizeValue())" + String(repeating: " ", count: Int(rng.next() % 3000))
            }
        }

        mutating func request() -> (String, String, String?) {
            let method = pick(["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "POST", "POST"])
            let path = pick([
                "/v1/devices", "/v1/devices/dax0.0", "/v1/devices/nope", "/v1/devices/%2e%2e%2f%2e%2e",
                "/v1/devices/dax0.0/enable", "/v1/devices/dax0.0/disable", "/v1/regions", "/v1/regions/0",
                "/v1/regions/-1", "/v1/regions/99999999999999999999", "/v1/errors", "/v1/errors/clear",
                "/v1/events?since=abc", "/v1/events?since=0", "/../../etc/passwd", "/v1/", "/v2/devices",
                "/v1/devices/\u{00e9}", "/v1/health", "/v1/regions/0/pool", "/v1/regions/1/pool",
            ])
            return (method, path, body())
        }
    }

    @Test("10,000 generated hostile requests: no crash, no 5xx, rejected requests change nothing, no fd leak")
    func fuzz() throws {
        let daemon = try DaemonHarness()
        try daemon.start(defaultRegionSize: "256M")
        defer { daemon.stop() }
        let pid = try #require(daemon.process?.processIdentifier)
        _ = try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/regions", body: nil)
        let fdsBefore = Self.descriptorCount(pid)
        var generator = Generator(rng: SplitMix64(state: 20_261_126))
        var statusCounts: [Int: Int] = [:]
        var state = try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/regions", body: nil).body
        for index in 0..<10_000 {
            var (method, path, body) = generator.request()
            if index % 500 == 0 { body = String(repeating: "x", count: 2 << 20) }
            let response = try rawRequest(socket: daemon.socket, method: method, path: path, body: body)
            statusCounts[response.status, default: 0] += 1
            #expect(
                response.status > 0 && response.status < 500,
                "\(method) \(path) \(body?.prefix(80) ?? "") → \(response.status) \(response.body.prefix(200))")
            let after = try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/regions", body: nil).body
            if response.status >= 400 {
                #expect(after == state, "rejected \(method) \(path) changed state")
            }
            // A success may start background work (a scrub, a pool fill): let it end before the next comparison.
            state = response.status < 400 ? try Self.settled(daemon) : after
            // Keep the region from filling up with accidental successes.
            if index % 250 == 249 {
                for device
                    in (try? JSONSerialization.jsonObject(
                        with: Data(
                            try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/devices", body: nil).body
                                .utf8)) as? [[String: Any]]) ?? []
                {
                    _ = try rawRequest(
                        socket: daemon.socket, method: "DELETE",
                        path: "/v1/devices/\(device["chardev"] as? String ?? "")?force=true", body: nil)
                }
                state = try Self.settled(daemon)
            }
        }
        // Slow and truncated clients: connect, send part of a request, go away.
        for _ in 0..<50 { try halfRequest(socket: daemon.socket) }
        #expect(daemon.process?.isRunning == true)
        #expect(try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/health", body: nil).status == 200)
        // The half requests' connections close as the daemon reads their end of file: wait for that, not a time.
        try? waitBlockingUntil("the daemon's descriptors back to \(fdsBefore)") {
            Self.descriptorCount(pid) <= fdsBefore
        }
        let fdsAfter = Self.descriptorCount(pid)
        #expect(fdsAfter <= fdsBefore, "descriptors before \(fdsBefore), after \(fdsAfter)")
        print("fuzz statuses: \(statusCounts.sorted { $0.key < $1.key }), fds \(fdsBefore) → \(fdsAfter)")
    }
}

extension APIFuzzTests {
    /// `GET /v1/regions` once no scrub is pending, no scrub or fill runs, and two reads in a row agree. Throws
    /// `WaitTimeout` when the daemon has not settled within 60 s.
    static func settled(_ daemon: DaemonHarness) throws -> String {
        var last = ""
        try waitBlockingUntil("the daemon settled (no scrub pending, no scrub or fill running)", timeout: .seconds(300))
        {
            let progress = try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/progress", body: nil).body
            let regions = try rawRequest(socket: daemon.socket, method: "GET", path: "/v1/regions", body: nil).body
            let idle = !progress.contains("\"state\":\"running\"") && !regions.contains("pending_scrub_size")
            defer { last = regions }
            return idle && regions == last
        }
        return last
    }
}

/// Sends half a request and closes the connection.
func halfRequest(socket: String) throws {
    let fd = try connectUnixSocket(socket)
    defer { close(fd) }
    let partial = "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"size\":"
    _ = partial.withCString { write(fd, $0, strlen($0)) }
}
