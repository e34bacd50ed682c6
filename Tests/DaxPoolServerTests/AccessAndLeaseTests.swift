import DaxPoolAPI
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("access control and leases in the pool service", .timeLimit(.minutes(20)))
struct AccessAndLeaseTests {
    static let alice = Caller(uid: 4242, gid: 4242, pid: 100)
    static let bob = Caller(uid: 4343, gid: 4343, pid: 200)
    static let admin = Caller(uid: 5000, gid: 5000, pid: 300)
    static let kvmMember = Caller(uid: 6000, gid: 6000, groups: [777], pid: 400)

    static let policy = AccessPolicy(
        daemonUID: 999, adminUsers: [5000], creatorUsers: [4242, 4343], creatorGroups: [777])

    func service(
        store: InMemoryStateStoreFake = InMemoryStateStoreFake(),
        backend: RecordingBackendFake = RecordingBackendFake(),
        watcher: ProcessWatcherFake = ProcessWatcherFake()
    ) async throws -> PoolService {
        try await PoolService(
            backends: [backend],
            store: store,
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            policy: Self.policy,
            watcher: watcher
        )
    }

    @Test("a device belongs to its creator, whose uid the backend gives the file")
    func creatorOwns() async throws {
        let backend = RecordingBackendFake()
        let service = try await service(backend: backend)
        let device = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: Self.alice)
        #expect(device.owner == 4242)
        #expect(backend.calls.contains("owner dax0.0 4242"))
    }

    @Test("someone else's device is forbidden to read, resize, disable, lease or destroy; the state stays")
    func othersAreRefused() async throws {
        let store = InMemoryStateStoreFake()
        let service = try await service(store: store)
        _ = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), name: try DeviceName(validating: "a")), by: Self.alice)
        let before = await service.snapshot
        await #expect(throws: AccessDenied.self) { _ = try await service.device("a", by: Self.bob) }
        await #expect(throws: AccessDenied.self) {
            _ = try await service.reconfigureDevice(
                "a", ReconfigureDeviceRequest(size: ByteCount.mebibytes(8), force: true), by: Self.bob)
        }
        await #expect(throws: AccessDenied.self) { _ = try await service.setDeviceState("a", .disabled, by: Self.bob) }
        await #expect(throws: AccessDenied.self) { _ = try await service.attach("a", pid: 200, by: Self.bob) }
        await #expect(throws: AccessDenied.self) { try await service.destroyDevice("a", force: true, by: Self.bob) }
        #expect(await service.snapshot == before)
        #expect(store.stored == before)
        #expect(await service.devices(by: Self.bob).isEmpty)
        #expect(await service.regions(by: Self.bob).first?.devices == [])
        #expect(await service.devices(by: Self.alice).map(\.name) == ["a"])
        #expect(await service.devices(by: Self.admin).map(\.name) == ["a"])
        #expect(try await service.device("a", by: Self.admin).owner == 4242)
    }

    @Test("only administrators manage regions, name another owner, or report errors")
    func administratorsOnly() async throws {
        let service = try await service()
        await #expect(throws: AccessDenied.self) {
            _ = try await service.createRegion(
                CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64)), by: Self.alice)
        }
        await #expect(throws: AccessDenied.self) { try await service.destroyRegion(0, by: Self.alice) }
        await #expect(throws: AccessDenied.self) {
            _ = try await service.createDevice(
                CreateDeviceRequest(size: ByteCount.mebibytes(16), owner: 4343), by: Self.alice)
        }
        await #expect(throws: AccessDenied.self) {
            _ = try await service.recordMemoryError(
                InjectErrorRequest(region: 0, regionOffset: .zero, length: .kibibytes(4)), by: Self.alice)
        }
        let given = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16), owner: 4343), by: Self.admin)
        #expect(given.owner == 4343)
        #expect(try await service.device(given.chardev, by: Self.bob).owner == 4343)
        #expect(await service.devices().count == 1)
    }

    @Test("device creators are named users and members of named groups; others may not create")
    func creators() async throws {
        let service = try await service()
        let stranger = Caller(uid: 7000, gid: 7000, pid: 500)
        await #expect(throws: AccessDenied.self) {
            _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: stranger)
        }
        let device = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: Self.kvmMember)
        #expect(device.owner == 6000)
        #expect(Self.policy.isAdministrator(Caller(uid: 0, gid: 0, pid: 1)))
        #expect(Self.policy.isAdministrator(Caller(uid: 999, gid: 999, pid: 1)))
        #expect(!Self.policy.isAdministrator(Self.kvmMember))
    }

    @Test("a lease blocks destroy, shrink and disable with device_leased naming the pid, until the holder exits")
    func leaseLifecycle() async throws {
        let watcher = ProcessWatcherFake()
        watcher.add(pid: 100, uid: 4242)
        let store = InMemoryStateStoreFake()
        let service = try await service(store: store, watcher: watcher)
        _ = try await service.createDevice(
            CreateDeviceRequest(size: ByteCount.mebibytes(32), name: try DeviceName(validating: "vm")), by: Self.alice)
        _ = try await service.setDeviceState("vm", .disabled, by: Self.alice)
        let leased = try await service.attach("vm", pid: nil, by: Self.alice)
        #expect(leased.leases == [LeaseInfo(pid: 100, uid: 4242)])
        #expect(watcher.watched == [100])
        func expectLeased(_ operation: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("\(operation) of a leased device succeeded")
            } catch let error as PoolError {
                guard case .deviceLeased(_, let holders, _) = error else {
                    Issue.record("\(operation): unexpected \(error)")
                    return
                }
                #expect(holders.map(\.pid) == [100])
                #expect(error.description.contains("pid 100"))
            } catch {
                Issue.record("\(operation): unexpected \(error)")
            }
        }
        var before = await service.snapshot
        await expectLeased("destroy") { try await service.destroyDevice("vm", force: false, by: Self.alice) }
        await expectLeased("shrink") {
            _ = try await service.reconfigureDevice(
                "vm", ReconfigureDeviceRequest(size: ByteCount.mebibytes(16)), by: Self.alice)
        }
        #expect(await service.snapshot == before)
        _ = try await service.reconfigureDevice(
            "vm", ReconfigureDeviceRequest(size: ByteCount.mebibytes(64)), by: Self.alice)
        _ = try await service.setDeviceState("vm", .enabled, by: Self.alice)
        before = await service.snapshot
        await expectLeased("disable") { _ = try await service.setDeviceState("vm", .disabled, by: Self.alice) }
        #expect(await service.snapshot == before)
        watcher.exit(pid: 100)
        // The watch's exit hands the release to a new task: wait for it.
        try await waitUntil("the lease of the exited holder is released") {
            try await service.device("vm").leases.isEmpty
        }
        #expect(store.stored?.regions.first?.devices.first?.record.leases == [])
        try await service.destroyDevice("vm", force: true, by: Self.alice)
    }

    @Test("a forced destroy revokes the device from its holder before releasing it")
    func forcedDestroyRevokes() async throws {
        let watcher = ProcessWatcherFake()
        watcher.add(pid: 100, uid: 4242)
        let backend = RecordingBackendFake()
        let service = try await service(backend: backend, watcher: watcher)
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: Self.alice)
        _ = try await service.attach("dax0.0", pid: 100, by: Self.alice)
        try await service.destroyDevice("dax0.0", force: true, by: Self.alice)
        let calls = backend.calls
        let revoke = try #require(calls.firstIndex(of: "revoke dax0.0"))
        let destroy = try #require(calls.firstIndex(of: "destroy dax0.0"))
        #expect(revoke < destroy)
        #expect(watcher.watched.isEmpty)
    }

    @Test("leasing another user's process needs an administrator; a missing process is a bad request")
    func leaseValidation() async throws {
        let watcher = ProcessWatcherFake()
        watcher.add(pid: 200, uid: 4343)
        let service = try await service(watcher: watcher)
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: Self.alice)
        let before = await service.snapshot
        await #expect(throws: AccessDenied.self) { _ = try await service.attach("dax0.0", pid: 200, by: Self.alice) }
        await #expect(throws: PoolError.self) { _ = try await service.attach("dax0.0", pid: 999, by: Self.alice) }
        await #expect(throws: PoolError.self) { _ = try await service.attach("dax0.0", pid: -1, by: Self.alice) }
        await #expect(throws: PoolError.self) { try await service.detach("dax0.0", pid: 200, by: Self.alice) }
        #expect(await service.snapshot == before)
        #expect(watcher.watched.isEmpty)
        let device = try await service.attach("dax0.0", pid: 200, by: Self.admin)
        #expect(device.leases == [LeaseInfo(pid: 200, uid: 4343)])
    }

    @Test("persisted leases survive a restart while their holder runs and are dropped when it is gone")
    func leasesRevalidated() async throws {
        let watcher = ProcessWatcherFake()
        watcher.add(pid: 100, uid: 4242, startTime: 7)
        watcher.add(pid: 200, uid: 4242, startTime: 8)
        let store = InMemoryStateStoreFake()
        let backend = RecordingBackendFake()
        let service = try await service(store: store, backend: backend, watcher: watcher)
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: Self.alice)
        _ = try await service.attach("dax0.0", pid: 100, by: Self.alice)
        _ = try await service.attach("dax0.0", pid: 200, by: Self.alice)
        let restartedWatcher = ProcessWatcherFake()
        restartedWatcher.add(pid: 100, uid: 4242, startTime: 7)
        restartedWatcher.add(pid: 200, uid: 4242, startTime: 99)  // pid 200 was reused by another process
        let again = try await self.service(store: store, backend: backend, watcher: restartedWatcher)
        #expect(try await again.device("dax0.0").leases == [LeaseInfo(pid: 100, uid: 4242)])
        #expect(restartedWatcher.watched == [100])
    }

    @Test("state written before owners existed loads with the daemon's uid as owner")
    func ownerlessStateLoads() async throws {
        let old = """
            {"id":"dax0.3","uuid":"3b0c1b1a-7c2e-4d55-9a64-1c2d3e4f5a6b","align":2097152,"state":"enabled"}
            """
        let record = try JSONDecoder().decode(DeviceRecord.self, from: Data(old.utf8))
        #expect(record.owner == nil)
        #expect(record.leases.isEmpty)
        var model = PoolModel()
        try model.addRegion(
            RegionConfig(id: 0, backend: .shm, size: .mebibytes(64), align: .page1G, pageSize: .page4K, path: "/fake"))
        _ = try model.createDevice(region: 0, size: .mebibytes(8), align: nil, name: nil, uuid: record.uuid)
        model.assignOwnerToUnownedDevices(999)
        #expect(model.regions[0]?.devices[0]?.owner == 999)
    }
}

@Suite("memory-error events by owner", .timeLimit(.minutes(20)))
struct EventVisibilityTests {
    @Test("an owner reads the events of its own device only; administrators read all")
    func ownersReadTheirEvents() async throws {
        let service = try await PoolService(
            backends: [RecordingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(256), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"),
            policy: AccessAndLeaseTests.policy
        )
        let alice = AccessAndLeaseTests.alice
        let bob = AccessAndLeaseTests.bob
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: alice)
        let events = try await service.recordMemoryError(
            InjectErrorRequest(
                device: DeviceReference(DeviceID(region: 0, instance: 0)), offset: .zero, length: .kibibytes(4)),
            by: AccessAndLeaseTests.admin)
        let event = try #require(events.first)
        #expect(await service.mayRead(event, alice))
        #expect(await !service.mayRead(event, bob))
        #expect(await service.mayRead(event, AccessAndLeaseTests.admin))
        try await service.destroyDevice("dax0.0", force: true, by: alice)
        _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(16)), by: bob)
        #expect(await !service.mayRead(event, bob), "a later device with the same id does not inherit the events")
    }
}
