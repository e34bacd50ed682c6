import DaxPoolAPI
import DaxPoolCore
import DaxPoolServer
import Logging
import Testing

@Suite("pool service rollbacks", .timeLimit(.minutes(20)))
struct PoolServiceTests {
    func service() async throws -> (PoolService, InMemoryStateStoreFake, RecordingBackendFake) {
        let store = InMemoryStateStoreFake()
        let backend = RecordingBackendFake()
        let service = try await PoolService(
            backends: [backend],
            store: store,
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
        return (service, store, backend)
    }

    @Test("a failed commit undoes the device the backend made and changes nothing")
    func commitFailureRollsBack() async throws {
        let (service, store, backend) = try await service()
        let before = await service.snapshot
        store.failNextCommit()
        await #expect(throws: InMemoryStateStoreFake.InjectedFailure.self) {
            _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)))
        }
        #expect(backend.devices.isEmpty)
        #expect(await service.snapshot == before)
        #expect(store.stored == before)
    }

    @Test("a failed provision persists nothing")
    func provisionFailure() async throws {
        let (service, store, backend) = try await service()
        let commits = store.commits
        backend.failNextProvision()
        await #expect(throws: BackendError.self) {
            _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)))
        }
        #expect(store.commits == commits)
        #expect(await service.devices().isEmpty)
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)))
        #expect(await service.devices().count == 1)
    }

    @Test("a restart from the stored snapshot gives the same devices")
    func restart() async throws {
        let (service, store, backend) = try await service()
        _ = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "a")))
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(32), align: .page4K))
        let again = try await PoolService(
            backends: [backend],
            store: store,
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
        #expect(await again.devices() == (await service.devices()))
    }
}
