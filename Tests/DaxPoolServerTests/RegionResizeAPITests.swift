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

/// A `sim` backend that records resizes and whose kernel can be told to give no more pages (a grow then fails
/// as the hugetlb backend's does, having changed nothing).
final class ResizingBackendFake: MemoryBackend {
    let kind: BackendKind = .sim
    private let state = Mutex<(resizes: [UInt64], refuseGrowth: Bool)>(([], false))

    func createRegion(_ request: RegionConfig) throws -> RegionConfig { request }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { nil }
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}

    func resizeRegion(_ config: RegionConfig, to newSize: ByteCount) throws -> RegionConfig {
        try state.withLock { state in
            if newSize > config.size, state.refuseGrowth {
                throw BackendError(
                    operation: "reserve-hugepages", path: "node0", errno: .outOfMemory,
                    message: "asked the kernel for more pages and got 0; they were given back")
            }
            state.resizes.append(newSize.rawValue)
            var resized = config
            resized.size = newSize
            return resized
        }
    }

    var resizes: [UInt64] { state.withLock { $0.resizes } }
    func refuseGrowth() { state.withLock { $0.refuseGrowth = true } }
}

/// A devdax backend that takes any region (the default `resizeRegion` refuses).
final class CarveBackendFake: MemoryBackend {
    let kind: BackendKind = .devdax
    func createRegion(_ request: RegionConfig) throws -> RegionConfig { request }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { nil }
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}
}

@Suite("region resize through the API", .timeLimit(.minutes(20)), .serialized)
struct RegionResizeAPITests {
    /// Runs `body` against the real router on a fresh socket: region 0 is a 64 MiB `sim` region of 2M pages,
    /// region 1 a devdax region, region 2 a degraded `sim` region.
    func withServer(
        _ body: (DaxPoolClient, PoolService, ResizingBackendFake, InMemoryStateStoreFake) async throws -> Void
    ) async throws {
        let socket = "/tmp/daxpool-resize-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        var seed = PoolModel()
        try seed.addRegion(
            RegionConfig(id: 2, backend: .sim, size: .mebibytes(64), align: .page1G, pageSize: .page2M, path: "/d"))
        seed.markDegraded(2, reasons: ["test doubt"])
        let store = InMemoryStateStoreFake()
        try store.commit(seed.snapshot)
        let backend = ResizingBackendFake()
        let service = try await PoolService(
            backends: [backend, CarveBackendFake()],
            store: store,
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .sim, size: ByteCount(64 << 20), pageSize: .page2M))
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .devdax, size: ByteCount(64 << 20), daxRegion: 1))
        let app = buildApplication(service: service, socketPath: socket, logger: Logger(label: "test"))
        try await RouterCalls.serving(app, socket: socket) { client in
            try await body(client, service, backend, store)
        }
    }

    @Test("PATCH /v1/regions/{id} grows and shrinks a region, persists the size and keeps the devices' ranges")
    func growAndShrink() async throws {
        try await withServer { client, service, backend, store in
            let device = try await service.createDevice(
                CreateDeviceRequest(region: 0, size: ByteCount(16 << 20)))
            let socket = client.socketPath
            let grown = try await RouterCalls.blocking {
                try DaxPoolClient(socketPath: socket).resizeRegion(
                    0, ResizeRegionRequest(size: ByteCount.mebibytes(128)))
            }
            #expect(grown.size == 128 << 20 && grown.availableSize == 112 << 20)
            #expect(store.stored?.regions.first { $0.config.id == 0 }?.config.size == .mebibytes(128))
            let shrunk = try await RouterCalls.blocking {
                try DaxPoolClient(socketPath: socket).resizeRegion(
                    0, ResizeRegionRequest(size: ByteCount.mebibytes(16)))
            }
            #expect(shrunk.size == 16 << 20 && shrunk.availableSize == nil)
            #expect(try await service.device(device.chardev).mappings == device.mappings)
            #expect(backend.resizes == [128 << 20, 16 << 20])
        }
    }

    @Test("a shrink under a device is a 409 naming it; size, backend and state stay as they were")
    func shrinkUnderDevice() async throws {
        try await withServer { client, service, backend, store in
            _ = try await service.createDevice(CreateDeviceRequest(region: 0, size: ByteCount(8 << 20)))
            _ = try await service.createDevice(CreateDeviceRequest(region: 0, size: ByteCount(8 << 20)))
            let before = store.stored
            let commits = store.commits
            let (status, error) = try await RouterCalls.send(client, "PATCH", "/v1/regions/0", #"{"size":"10M"}"#)
            #expect(status == 409 && error?.code == "range_in_use")
            #expect(error?.message.contains("dax0.1") == true && error?.message.contains("\(16 << 20) bytes") == true)
            #expect(backend.resizes.isEmpty, "the backend was never asked")
            #expect(store.stored == before && store.commits == commits)
            #expect(try await service.region(0).size == 64 << 20)
        }
    }

    @Test("a grow the kernel cannot give pages for is refused and changes nothing")
    func growRefusedByKernel() async throws {
        try await withServer { client, service, backend, store in
            backend.refuseGrowth()
            let before = store.stored
            let (status, error) = try await RouterCalls.send(client, "PATCH", "/v1/regions/0", #"{"size":"1G"}"#)
            #expect(status == 409 && error?.code == "insufficient_memory")
            #expect(store.stored == before)
            #expect(try await service.region(0).size == 64 << 20)
            #expect(try await service.region(0).availableSize == 64 << 20)
        }
    }

    @Test("bad sizes are 400, an unknown region 404, a degraded region 409, a devdax region 400, a tenant 403")
    func refusals() async throws {
        try await withServer { client, service, backend, store in
            let before = store.stored
            let cases: [(String, String, Int, String)] = [
                ("/v1/regions/0", #"{"size":"3M"}"#, 400, "misaligned"),
                ("/v1/regions/0", #"{"size":"0"}"#, 400, "bad_request"),
                ("/v1/regions/0", #"{"size":"lots"}"#, 400, "bad_request"),
                ("/v1/regions/0", #"{"sizes":"8M"}"#, 400, "bad_request"),
                ("/v1/regions/0", #"{}"#, 400, "bad_request"),
                ("/v1/regions/9", #"{"size":"8M"}"#, 404, "not_found"),
                ("/v1/regions/2", #"{"size":"128M"}"#, 409, "region_degraded"),
                ("/v1/regions/1", #"{"size":"128M"}"#, 400, "bad_request"),
            ]
            for (path, body, wantedStatus, code) in cases {
                let (status, error) = try await RouterCalls.send(client, "PATCH", path, body)
                #expect(
                    status == wantedStatus && error?.code == code,
                    "\(path) \(body): \(status) \(String(describing: error))")
                if path == "/v1/regions/1" {
                    #expect(error?.message.contains("devdax region cannot be resized") == true)
                }
            }
            let tenant = Caller(uid: 4242, gid: 4242, pid: 1)
            await #expect(throws: AccessDenied.self) {
                _ = try await service.resizeRegion(0, ResizeRegionRequest(size: ByteCount.mebibytes(128)), by: tenant)
            }
            #expect(store.stored == before && backend.resizes.isEmpty)
        }
    }
}
