import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolServer
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A hugetlb region never pays the full page metadata by accident, against the real router on a Unix socket with a
/// hugetlb backend fake whose HugeTLB Vmemmap Optimization setting the test chooses: while HVO is off `POST
/// /v1/regions` is refused (409 `hvo_off`, both costs, both ways on) unless `hvo` is `"on"` (turned on before the
/// pages are reserved) or `"off"` (the full cost, shown in `page_metadata`); `hvo` is read strictly.
@Suite("hugetlb regions and HugeTLB Vmemmap Optimization", .timeLimit(.minutes(20)), .serialized)
struct HugetlbHVOTests {
    static let body1G = #"{"backend":"hugetlb","size":"1G","page_size":"1G","path":"/fake/huge""#

    @Test(
        "with HVO off and no hvo, a hugetlb region answers 409 hvo_off showing both costs and both flags; none is made")
    func refusedWithoutChoice() async throws {
        let backend = HugetlbHVOBackendFake(optimizedNow: false)
        try await Self.withServer(backend) { client, service in
            let (status, error) = try await RouterCalls.send(client, "POST", "/v1/regions", Self.body1G + "}")
            #expect(status == 409, "\(String(describing: error))")
            #expect(error?.code == "hvo_off")
            let message = error?.message ?? ""
            // 1 GiB of 1G pages: 16 MiB of struct pages without HVO, one 4 KiB page with it.
            #expect(message.contains("1 GiB of 1G pages costs 16 MiB of page metadata"), "\(message)")
            #expect(message.contains("16 GiB per TiB") && message.contains("4 KiB (4 MiB per TiB) with it"))
            #expect(message.contains("--hvo on") && message.contains("--hvo off"))
            #expect(message.contains(#""hvo": "on""#) && message.contains(#""hvo": "off""#))
            #expect(message.contains("system-wide"))
            #expect(await service.snapshot.regions.isEmpty, "no region was made")
            #expect(backend.events == [], "HVO was not touched and nothing was reserved")
        }
    }

    @Test("hvo off accepts the cost: the region is made with HVO still off and page_metadata is the full figure")
    func acceptedOff() async throws {
        let backend = HugetlbHVOBackendFake(optimizedNow: false)
        try await Self.withServer(backend) { client, service in
            let (status, error) = try await RouterCalls.send(
                client, "POST", "/v1/regions", Self.body1G + #","hvo":"off"}"#)
            #expect(status == 201, "\(String(describing: error))")
            #expect(backend.events == ["reserve optimized=false"])
            let metadata = try #require(await service.regions().first?.pageMetadata)
            #expect(!metadata.vmemmapOptimized)
            #expect(metadata.bytes == .mebibytes(16) && metadata.bytesPerTebibyte == .gibibytes(16))
        }
    }

    @Test("hvo on turns HVO on before the pages are reserved, and page_metadata is the optimized figure")
    func turnedOn() async throws {
        let backend = HugetlbHVOBackendFake(optimizedNow: false)
        try await Self.withServer(backend) { client, service in
            let (status, error) = try await RouterCalls.send(
                client, "POST", "/v1/regions", Self.body1G + #","hvo":"on"}"#)
            #expect(status == 201, "\(String(describing: error))")
            #expect(backend.events == ["turn on", "reserve optimized=true"])
            let metadata = try #require(await service.regions().first?.pageMetadata)
            #expect(metadata.vmemmapOptimized)
            #expect(metadata.bytes == .kibibytes(4) && metadata.bytesPerTebibyte == .mebibytes(4))
            let socket = client.socketPath
            let (_, scraped) = try await RouterCalls.blocking {
                try DaxPoolClient(socketPath: socket).raw(method: "GET", path: "/metrics", body: nil)
            }
            let text = String(decoding: scraped, as: UTF8.self)
            #expect(
                text.contains(#"daxpool_region_page_metadata_bytes{region="0",backend="hugetlb"} 4096"#),
                "the metrics show the optimized figure too")
        }
    }

    @Test("with HVO already on no hvo is needed, and hvo off does not turn it off")
    func alreadyOn() async throws {
        let backend = HugetlbHVOBackendFake(optimizedNow: true)
        try await Self.withServer(backend) { client, _ in
            let (plain, _) = try await RouterCalls.send(client, "POST", "/v1/regions", Self.body1G + "}")
            #expect(plain == 201)
            let (off, _) = try await RouterCalls.send(
                client, "POST", "/v1/regions", #"{"backend":"hugetlb","size":"2G","path":"/fake/two","hvo":"off"}"#)
            #expect(off == 201)
            #expect(backend.events == ["reserve optimized=true", "reserve optimized=true"])
        }
    }

    @Test("on a kernel without HVO, no hvo and hvo on answer 409 hvo_unavailable; hvo off is accepted")
    func unavailable() async throws {
        let backend = HugetlbHVOBackendFake(optimizedNow: nil)
        try await Self.withServer(backend) { client, service in
            for suffix in ["}", #","hvo":"on"}"#] {
                let (status, error) = try await RouterCalls.send(client, "POST", "/v1/regions", Self.body1G + suffix)
                #expect(status == 409 && error?.code == "hvo_unavailable", "\(suffix): \(String(describing: error))")
                #expect(error?.message.contains("no HugeTLB Vmemmap Optimization") == true)
                #expect(error?.message.contains("--hvo off") == true)
            }
            #expect(await service.snapshot.regions.isEmpty)
            let (status, _) = try await RouterCalls.send(
                client, "POST", "/v1/regions", Self.body1G + #","hvo":"off"}"#)
            #expect(status == 201)
        }
    }

    static let badBodies: [(String, String)] = [
        (Self.body1G + #","hvo":"yes"}"#, #"hvo must be "on" or "off", not "yes""#),
        (Self.body1G + #","hvo":"ON"}"#, #"not "ON""#),
        (Self.body1G + #","hvo":""}"#, #"not """#),
        (Self.body1G + #","hvo":true}"#, "the request body is not valid"),
        (Self.body1G + #","hvo":1}"#, "the request body is not valid"),
        (Self.body1G + #","hvo":"on","hvo":"off"}"#, #"duplicate key "hvo""#),
        (Self.body1G + #","hvoo":"on"}"#, #"unknown key "hvoo""#),
        (#"{"backend":"shm","size":"1G","path":"/fake/shm","hvo":"off"}"#, "hvo is only for hugetlb regions"),
    ]

    @Test(
        "hvo is read strictly: another value, another type, a duplicate, a misspelt key or a non-hugetlb region is 400")
    func strict() async throws {
        let backend = HugetlbHVOBackendFake(optimizedNow: false)
        try await Self.withServer(backend) { client, service in
            for (body, expected) in Self.badBodies {
                let (status, error) = try await RouterCalls.send(client, "POST", "/v1/regions", body)
                #expect(status == 400 && error?.code == "bad_request", "\(body): \(String(describing: error))")
                #expect(error?.message.contains(expected) == true, "\(body): \(String(describing: error))")
            }
            #expect(await service.snapshot.regions.isEmpty)
            #expect(backend.events == [])
        }
    }

    @Test("an unknown key's answer names hvo among the known keys of a region")
    func knownKeys() async throws {
        try await Self.withServer(HugetlbHVOBackendFake(optimizedNow: false)) { client, _ in
            let (_, error) = try await RouterCalls.send(client, "POST", "/v1/regions", Self.body1G + #","x":1}"#)
            #expect(
                error?.message.contains("known keys: backend, dax_region, hvo, node, page_size, path, pool, size")
                    == true,
                "\(String(describing: error))")
        }
    }

    @Test("the hvo field round-trips: absent when not given, \"on\" or \"off\" as given")
    func wire() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let plain = String(decoding: try encoder.encode(CreateRegionRequest(backend: .hugetlb)), as: UTF8.self)
        #expect(!plain.contains("hvo"))
        let on = CreateRegionRequest(backend: .hugetlb, size: ByteCount.gibibytes(1), hvo: "on")
        let decoded = try JSONDecoder().decode(CreateRegionRequest.self, from: try encoder.encode(on))
        #expect(decoded == on && decoded.hvo == "on")
        #expect(CreateRegionRequest.requestKeys.known.contains("hvo"))
    }

    @Test("the decision before reserving: HVO on reserves, off needs a choice, missing allows only off")
    func steps() throws {
        func step(_ now: Bool?, _ choice: VmemmapOptimizationChoice?) -> String {
            do {
                return
                    "\(try VmemmapOptimizationChoice.step(optimizedNow: now, choice: choice, memory: .gibibytes(1), pageSize: .page1G))"
            } catch {
                return "\(error.reason)"
            }
        }
        #expect(step(true, nil) == "reserve(optimized: true)")
        #expect(step(true, .on) == "reserve(optimized: true)")
        #expect(step(true, .off) == "reserve(optimized: true)")
        #expect(step(false, .on) == "turnOnThenReserve")
        #expect(step(false, .off) == "reserve(optimized: false)")
        #expect(step(false, nil) == "vmemmapOptimizationOff")
        #expect(step(nil, nil) == "vmemmapOptimizationUnavailable")
        #expect(step(nil, .on) == "vmemmapOptimizationUnavailable")
        #expect(step(nil, .off) == "reserve(optimized: false)")
        #expect(throws: PoolError.self) { try VmemmapOptimizationChoice(parsing: "true") }
        #expect(try VmemmapOptimizationChoice(parsing: "off") == .off)
    }

    @Test("a serve config's hugetlb region takes hvo on or off (strictly), and without it is refused at start")
    func serveConfiguration() async throws {
        func parse(_ hvo: String) throws(ConfigurationError) -> ServeConfiguration {
            let text = #"{"regions": [{"backend": "hugetlb", "path": "/fake/huge", "size": "1G", "page_size": "1G""#
            return try ServeConfiguration(json: Data((text + hvo + "}]}").utf8), source: "test")
        }
        #expect(try parse(#", "hvo": "on""#).regions?.first?.hvo == "on")
        #expect(try parse(#", "hvo": "off""#).regions?.first?.hvo == "off")
        #expect(try parse("").regions?.first?.hvo == nil)
        for bad in [#", "hvo": "yes""#, #", "hvo": true"#] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try parse(bad) }
        }
        let shm = #"{"regions": [{"backend": "shm", "path": "/fake/shm", "size": "1G", "hvo": "on"}]}"#
        #expect(throws: ConfigurationError.self) { try ServeConfiguration(json: Data(shm.utf8), source: "test") }

        let backend = HugetlbHVOBackendFake(optimizedNow: false)
        try await Self.withServer(backend) { _, service in
            let plain = try parse("").regions ?? []
            await #expect(throws: ConfigurationError.self) {
                try await ServeConfiguration.ensureRegions(plain, in: service, logger: Logger(label: "test"))
            }
            #expect(backend.events == [], "refused at start: nothing reserved with HVO off")
            let on = try parse(#", "hvo": "on""#).regions ?? []
            _ = try await ServeConfiguration.ensureRegions(on, in: service, logger: Logger(label: "test"))
            #expect(backend.events == ["turn on", "reserve optimized=true"])
        }
    }

    // MARK: - Helpers

    /// Runs `body` against a daemon's router on a fresh socket, with `backend` and an shm backend fake, no default region.
    static func withServer(
        _ backend: HugetlbHVOBackendFake, _ body: (DaxPoolClient, PoolService) async throws -> Void
    ) async throws {
        let socket = "/tmp/daxpool-hvo-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let service = try await PoolService(
            backends: [backend, RecordingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            watcher: ProcessWatcherFake()
        )
        let app = buildApplication(service: service, socketPath: socket, logger: Logger(label: "test"))
        try await RouterCalls.serving(app, socket: socket) { client in
            try await body(client, service)
        }
    }
}

/// A hugetlb backend fake with a HugeTLB Vmemmap Optimization setting of its own (`nil`: the kernel has none): it
/// decides as the real backend does (`VmemmapOptimizationChoice.step`), records "turn on" and "reserve" in order, and
/// reports each region's page metadata from whether HVO was on when its pages were "reserved".
final class HugetlbHVOBackendFake: VmemmapOptimizingBackend {
    let kind: BackendKind = .hugetlb
    private let state: Mutex<(optimizedNow: Bool?, events: [String], optimized: [Int: Bool])>

    init(optimizedNow: Bool?) {
        state = Mutex((optimizedNow, [], [:]))
    }

    var events: [String] { state.withLock { $0.events } }

    func createRegion(_ request: RegionConfig) throws -> RegionConfig {
        try createRegion(request, vmemmapOptimization: nil)
    }

    func createRegion(_ request: RegionConfig, vmemmapOptimization choice: VmemmapOptimizationChoice?) throws
        -> RegionConfig
    {
        let now = state.withLock { $0.optimizedNow }
        let step = try VmemmapOptimizationChoice.step(
            optimizedNow: now, choice: choice, memory: request.size, pageSize: request.pageSize)
        state.withLock { value in
            if step == .turnOnThenReserve {
                value.optimizedNow = true
                value.events.append("turn on")
            }
            let optimized = value.optimizedNow ?? false
            value.events.append("reserve optimized=\(optimized)")
            value.optimized[request.id] = optimized
        }
        return request
    }

    func pageMetadata(for region: RegionConfig) -> PageMetadata {
        PageMetadata(
            memory: region.size, pageSize: region.pageSize,
            vmemmapOptimized: state.withLock { $0.optimized[region.id] ?? false })
    }

    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { "/fake/\(device)" }
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}
}
