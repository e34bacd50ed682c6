import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import Foundation
import Hummingbird
import Logging
import Testing

/// The API contract is `openapi/daxpool.yaml`: the router serves exactly the documented operations, and
/// each answers with a documented status.
@Suite("OpenAPI contract", .timeLimit(.minutes(20)))
struct OpenAPIContractTests {
    struct Operation: Hashable, CustomStringConvertible {
        var method: String
        var path: String
        var description: String { "\(method) \(path)" }
    }

    static var specPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi/daxpool.yaml").path
    }

    /// Operations and their documented statuses, read from the YAML's `paths` section.
    static func documented() throws -> [Operation: Set<Int>] {
        let text = try String(contentsOfFile: specPath, encoding: .utf8)
        var result: [Operation: Set<Int>] = [:]
        var path: String?
        var current: Operation?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
                current = nil
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "),
                let method = ["get", "post", "patch", "delete", "put"].first(where: { line == "    \($0):" })
            {
                current = Operation(method: method.uppercased(), path: path)
                result[current ?? Operation(method: "", path: "")] = []
            } else if let operation = current, line.hasPrefix("        \""),
                let status = Int(line.dropFirst(9).prefix(3))
            {
                result[operation, default: []].insert(status)
            }
        }
        return result
    }

    static func service() async throws -> PoolService {
        let watcher = ProcessWatcherFake()
        watcher.add(pid: 4242, uid: getuid())
        return try await PoolService(
            backends: [RecordingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            watcher: watcher
        )
    }

    @Test("every route the router serves is documented and every documented route is served")
    func routesMatchSpec() async throws {
        let router = buildRouter(service: try await Self.service())
        let served = Set(
            router.routes.map { route in
                let path = route.path.description.split(separator: "/").map { component in
                    component.hasPrefix(":") ? "{\(component.dropFirst())}" : String(component)
                }
                return Operation(method: route.method.rawValue, path: "/" + path.joined(separator: "/"))
            }
        )
        let documented = Set(try Self.documented().keys)
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented))")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served))")
    }

    @Test("each documented operation answers with one of its documented statuses")
    func documentedStatuses() async throws {
        let socket = "/tmp/daxpool-contract-\(getpid()).sock"
        let service = try await Self.service()
        let app = buildApplication(service: service, socketPath: socket, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            let client = DaxPoolClient(socketPath: socket)
            try await RouterCalls.waitUntilAnswering(socket)
            let spec = try Self.documented()
            let probes: [(String, String, String?)] = [
                ("GET", "/v1/health", nil), ("GET", "/v1/regions", nil),
                ("POST", "/v1/regions", "{\"backend\":\"shm\",\"size\":\"64M\"}"),
                ("POST", "/v1/regions", "{\"backend\":\"shm\"}"),
                ("GET", "/v1/regions/0", nil), ("GET", "/v1/regions/99", nil), ("GET", "/v1/regions/x", nil),
                ("DELETE", "/v1/regions/1", nil),
                ("GET", "/v1/devices", nil), ("POST", "/v1/devices", "{\"size\":\"8M\",\"name\":\"c\"}"),
                ("DELETE", "/v1/regions/0", nil),
                ("POST", "/v1/devices", "{\"size\":-1}"), ("POST", "/v1/devices", "{\"size\":\"99G\"}"),
                ("GET", "/v1/devices/c", nil), ("GET", "/v1/devices/nope", nil),
                ("PATCH", "/v1/devices/c", "{\"size\":\"16M\"}"),
                ("PATCH", "/v1/devices/c", "{\"size\":\"16M\",\"force\":true}"),
                ("POST", "/v1/devices/c/disable", nil), ("POST", "/v1/devices/c/enable", nil),
                ("POST", "/v1/devices/nope/enable", nil), ("POST", "/v1/devices/nope/disable", nil),
                ("POST", "/v1/devices/c/leases", "{\"pid\":4242}"), ("POST", "/v1/devices/c/leases", "{\"pid\":4242}"),
                ("POST", "/v1/devices/c/leases", "{\"pid\":-1}"), ("POST", "/v1/devices/c/leases", "{\"pid\":77777}"),
                ("POST", "/v1/devices/nope/leases", "{}"),
                ("POST", "/v1/devices/c/disable", nil), ("POST", "/v1/devices/c/disable?force=maybe", nil),
                ("DELETE", "/v1/devices/c/leases/x", nil), ("DELETE", "/v1/devices/nope/leases/1", nil),
                ("DELETE", "/v1/devices/c/leases/4242", nil), ("DELETE", "/v1/devices/c/leases/4242", nil),
                ("POST", "/v1/devices/c/leases", "{\"pid\":4242}"), ("DELETE", "/v1/devices/c?force=maybe", nil),
                ("POST", "/v1/errors", "{\"device\":\"c\",\"offset\":0,\"length\":4096}"),
                ("POST", "/v1/errors", "{\"length\":4096}"),
                ("POST", "/v1/errors/clear", "{\"region\":0,\"region_offset\":0,\"length\":\"1G\"}"),
                ("POST", "/v1/errors/clear", "{\"region\":0}"),
                ("GET", "/v1/events", nil), ("GET", "/v1/events?since=x", nil),
                ("GET", "/v1/progress", nil), ("GET", "/v1/progress?device=c", nil),
                ("GET", "/v1/progress?follow=maybe", nil), ("GET", "/v1/progress?operation=x", nil),
                ("GET", "/v1/progress?follow=true&operation=1", nil),
                ("DELETE", "/v1/devices/c", nil), ("DELETE", "/v1/devices/c?force=true", nil),
                ("DELETE", "/v1/devices/c", nil),
            ]
            for (method, path, body) in probes {
                let (status, bytes) = try client.raw(method: method, path: path, body: body.map { Array($0.utf8) })
                let templated = Self.template(path)
                let allowed = spec[Operation(method: method, path: templated)] ?? []
                #expect(
                    allowed.contains(status), "\(method) \(path) answered \(status), documented \(allowed.sorted())")
                if status >= 400 {
                    let error = try? JSONDecoder().decode(ErrorBody.self, from: Data(bytes))
                    #expect(
                        error?.status == status,
                        "\(method) \(path): error body \(String(decoding: bytes, as: UTF8.self))")
                }
            }
        }
        unlink(socket)
    }

    static func template(_ path: String) -> String {
        let bare = path.split(separator: "?").first.map(String.init) ?? path
        let parts = bare.split(separator: "/").map(String.init)
        guard parts.count >= 3 else { return bare }
        var templated = parts
        if parts[1] == "regions" { templated[2] = "{region}" }
        if parts[1] == "devices" { templated[2] = "{device}" }
        if parts.count >= 5, parts[3] == "leases" { templated[4] = "{pid}" }
        return "/" + templated.joined(separator: "/")
    }
}
