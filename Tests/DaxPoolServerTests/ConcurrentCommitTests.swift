import DaxPoolAPI
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A shm backend fake whose provision blocks until the test lets it go, as a slow `fallocate` of many GiB would.
final class BlockingBackendFake: MemoryBackend {
    let kind: BackendKind = .shm
    private let gate = Gate(open: false)

    func createRegion(_ request: RegionConfig) throws -> RegionConfig { request }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { "/fake/\(device)" }
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}

    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {
        guard size > .mebibytes(512) else { return }
        gate.pass()
    }

    /// Whether a big provision is waiting at the gate.
    var isBlocking: Bool { gate.waiting > 0 }

    func release() { gate.open() }
}

// The limit is long because the full load run's blocking clients hold the shared threads for minutes; a hang (the old
// code, which allocated on the actor) still ends in a failure.
@Suite("requests while another's memory is being allocated", .timeLimit(.minutes(20)))
struct ConcurrentCommitTests {
    @Test("a create whose fallocate is slow stalls neither a list nor another create; its device is hidden until done")
    func slowAllocationStallsNothing() async throws {
        let backend = BlockingBackendFake()
        let service = try await PoolService(
            backends: [backend], store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .gibibytes(2), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"))
        let slow = Task {
            try await service.createDevice(
                CreateDeviceRequest(size: ByteCount.gibibytes(1), name: try DeviceName(validating: "slow")))
        }
        try await waitUntil("the slow create reached its fallocate") { backend.isBlocking }

        // The actor answers while the slow fallocate is in progress.
        #expect(await service.devices().isEmpty, "a device still being made is listed")
        let quick = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(64), name: try DeviceName(validating: "quick")))
        #expect(quick.name == "quick")
        #expect(await service.devices().map(\.name) == ["quick"])
        // Its name and ranges are taken meanwhile, and it cannot be destroyed half made.
        await #expect(throws: PoolError.self) {
            _ = try await service.createDevice(
                CreateDeviceRequest(size: ByteCount.mebibytes(64), name: try DeviceName(validating: "slow")))
        }
        await #expect(throws: PoolError.deviceBusy(DeviceID(region: 0, instance: 0))) {
            try await service.destroyDevice("slow", force: true)
        }
        #expect(await service.snapshot.regions[0].devices.map(\.record.name?.value) == ["quick"])

        backend.release()
        let made = try await slow.value
        #expect(made.name == "slow")
        #expect(Set(await service.devices().compactMap(\.name)) == ["slow", "quick"])
        #expect(await service.snapshot.regions[0].devices.count == 2)
    }
}

extension ConcurrentCommitTests {
    @Test("a grow whose fallocate is slow stalls nothing; the device is busy and persisted at its old size until done")
    func slowGrowStallsNothing() async throws {
        let backend = BlockingBackendFake()
        let service = try await PoolService(
            backends: [backend], store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .gibibytes(2), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"))
        _ = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(64), name: try DeviceName(validating: "vm")))
        let grow = Task {
            try await service.reconfigureDevice(
                "vm", ReconfigureDeviceRequest(size: ByteCount.gibibytes(1), force: true))
        }
        try await waitUntil("the grow reached its fallocate") { backend.isBlocking }

        // The actor answers while the grow allocates; the device is persisted as it was and cannot be changed.
        let other = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(64), name: try DeviceName(validating: "other")))
        #expect(other.name == "other")
        let persisted = await service.snapshot.regions[0].devices
        #expect(persisted.map(\.record.name?.value) == ["vm", "other"])
        #expect(persisted.first?.extents.reduce(0) { $0 + $1.length.rawValue } == 64 << 20)
        await #expect(throws: PoolError.deviceBusy(DeviceID(region: 0, instance: 0))) {
            _ = try await service.reconfigureDevice(
                "vm", ReconfigureDeviceRequest(size: ByteCount.mebibytes(128), force: true))
        }
        await #expect(throws: PoolError.deviceBusy(DeviceID(region: 0, instance: 0))) {
            try await service.destroyDevice("vm", force: true)
        }

        backend.release()
        let grown = try await grow.value
        #expect(grown.size == 1 << 30)
        let after = await service.snapshot.regions[0].devices
        #expect(after.first?.extents.reduce(0) { $0 + $1.length.rawValue } == 1 << 30)
        // The ranges it grew into were taken while it grew: the device created meanwhile got none of them.
        let grownRanges = after.first?.extents ?? []
        let otherRanges = after.last?.extents ?? []
        for a in grownRanges {
            for b in otherRanges {
                #expect(
                    a.start.rawValue + a.length.rawValue <= b.start.rawValue
                        || b.start.rawValue + b.length.rawValue <= a.start.rawValue, "\(a) overlaps \(b)")
            }
        }
    }
}

/// A hugetlb backend fake whose region creation blocks until the test lets it go, as mounting and reserving many huge
/// pages would.
final class SlowRegionBackendFake: MemoryBackend {
    let kind: BackendKind = .hugetlb
    private let gate = Gate(open: false)

    func createRegion(_ request: RegionConfig) throws -> RegionConfig {
        gate.pass()
        return request
    }
    func destroyRegion(_ config: RegionConfig) throws {}
    func devicePath(_ device: DeviceID, in region: RegionConfig) -> String? { "/fake/\(device)" }
    func setDeviceEnabled(_ device: DeviceID, enabled: Bool, in region: RegionConfig) throws {}
    func destroyDevice(_ device: DeviceID, in region: RegionConfig) throws {}
    func reconcile(_ region: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])]) throws {}
    func provisionDevice(_ device: DeviceID, size: ByteCount, extents: [Extent], in region: RegionConfig) throws {}

    var isBlocking: Bool { gate.waiting > 0 }

    func release() { gate.open() }
}

extension ConcurrentCommitTests {
    @Test("a region whose creation is slow stalls no other request; its id and path stay taken until it is done")
    func slowRegionStallsNothing() async throws {
        let slow = SlowRegionBackendFake()
        let service = try await PoolService(
            backends: [BlockingBackendFake(), slow], store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .gibibytes(2), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"))
        let creating = Task {
            try await service.createRegion(
                CreateRegionRequest(backend: .hugetlb, size: ByteCount.gibibytes(1), path: "/fake/huge"))
        }
        try await waitUntil("the region creation reached the backend") { slow.isBlocking }
        // The actor answers meanwhile: lists, device creates in other regions, other region creates.
        #expect(await service.regions().map(\.id) == [0])
        let device = try await service.createDevice(CreateDeviceRequest(region: 0, size: ByteCount.mebibytes(64)))
        #expect(device.chardev == "dax0.0")
        await #expect(throws: PoolError.self) {
            _ = try await service.createRegion(
                CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64), path: "/fake/huge"))
        }
        let other = try await service.createRegion(CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64)))
        #expect(other.id == 2, "the id of the region being created was handed out again")
        slow.release()
        let made = try await creating.value
        #expect(made.id == 1)
        #expect(await service.regions().map(\.id) == [0, 1, 2])
        #expect(await service.snapshot.regions.map(\.config.id) == [0, 1, 2])
    }
}

/// A state store in memory whose commits wait at a gate the test opens, as a slow disk's fsync would.
final class GatedStateStoreFake: StateStore {
    private let state = Mutex<PoolSnapshot?>(nil)
    private let gate = Gate(open: true)

    func load() throws -> PoolSnapshot? { state.withLock { $0 } }
    func commit(_ snapshot: PoolSnapshot) throws { state.withLock { $0 = snapshot } }

    func enqueue(_ snapshot: PoolSnapshot) throws -> UInt64 {
        state.withLock { $0 = snapshot }
        return 1
    }

    func waitDurable(_ ticket: UInt64) throws { gate.pass() }

    func close() { gate.close() }
    func open() { gate.open() }
    var waiting: Int { gate.waiting }
}

@Suite("a destroy whose commit is in flight", .timeLimit(.minutes(20)))
struct DestroyInFlightTests {
    @Test("a new device never takes the number of a destroyed one whose memory is still being taken away")
    func numberNotReusedUntilRetired() async throws {
        let backend = RecordingBackendFake()
        let store = GatedStateStoreFake()
        let service = try await PoolService(
            backends: [backend], store: store,
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"))
        let first = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "first")))
        #expect(first.chardev == "dax0.0")
        store.close()
        let destroy = Task { try await service.destroyDevice("first", force: true) }
        try await waitUntil("the destroy waits for its record") { store.waiting > 0 }
        // The destroy is committed in the model and waits for its record; its backend work has not run yet. A create
        // now chooses its number, and waits for its own record too.
        let create = Task {
            try await service.createDevice(
                CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "second")))
        }
        try await waitUntil("the create waits for its record too") { store.waiting >= 2 }
        #expect(store.waiting == 2)
        store.open()
        _ = try await destroy.value
        let second = try await create.value
        #expect(second.chardev != "dax0.0", "the new device took the number whose file the destroy was taking away")
        let third = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "third")))
        #expect(third.chardev == "dax0.0", "the number is free again once the destroy is done")
    }
}
