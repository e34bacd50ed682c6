import DaxPoolAPI
import DaxPoolCore
import DaxPoolServer
import DaxPoolTestSupport
import Logging
import Synchronization
import Testing

/// Destroy answers before the memory is zeroed; the scrub service zeroes it off the pool actor, reporting progress,
/// and only then is the memory free again, also across a restart. (The real hugetlb scrub is tested in
/// `TenantIsolationTests` and, through the daemon and the CLI, in `ProgressCommandTests`.)
@Suite("background scrub", .timeLimit(.minutes(20)))
struct BackgroundScrubTests {
    static let size: UInt64 = 64 << 20

    func service(_ store: InMemoryStateStoreFake, _ backend: ScrubbingBackendFake) async throws -> PoolService {
        try await PoolService(
            backends: [backend],
            store: store,
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
    }

    /// Starts the service's scrub service, as the daemon's service group does.
    func startScrubbing(_ service: PoolService) -> Task<Void, any Error> {
        Task { try await ScrubService(service: service, logger: Logger(label: "test")).run() }
    }

    /// Waits until the scrub of the device with uuid `device` has ended; returns its events.
    func drain(_ service: PoolService, device: String) async -> [ProgressEvent] {
        let (latest, stream) = service.progress.subscribe()
        var seen: [ProgressEvent] = []
        for event in latest where event.kind == .scrub && event.deviceUUID == device { seen.append(event) }
        if seen.last.map({ $0.state != .running }) == true { return seen }
        for await event in stream where event.kind == .scrub && event.deviceUUID == device {
            seen.append(event)
            if event.state != .running { break }
        }
        return seen
    }

    @Test("destroy answers at once; the memory is out of use until the background scrub (monotonic progress) is done")
    func scrubInBackground() async throws {
        let store = InMemoryStateStoreFake()
        let backend = ScrubbingBackendFake()
        let service = try await service(store, backend)
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .hugetlb, size: ByteCount(Self.size), path: "/fake/region0"))
        let first = try await service.createDevice(CreateDeviceRequest(size: ByteCount(Self.size)))

        let pending = try #require(try await service.destroyDevice(first.chardev, force: true))
        #expect(pending.size.rawValue == Self.size)
        #expect(backend.retired == [pending.token])
        #expect(try await service.region(0).availableSize == nil)
        await #expect(throws: PoolError.self) {
            _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(2)))
        }
        await #expect(throws: PoolError.scrubPending(0, bytes: ByteCount(Self.size))) {
            try await service.destroyRegion(0)
        }
        #expect(await service.pendingScrubs == [pending])
        #expect(store.stored?.regions.first?.pendingScrubs == [pending], "the pending scrub is persisted")

        // While the scrub runs (held after its first eighth), the pool keeps answering.
        backend.hold()
        let scrubbing = startScrubbing(service)
        let (latest, stream) = service.progress.subscribe()
        var running = latest.filter { $0.kind == .scrub && $0.state == .running && $0.done > 0 }
        if running.isEmpty {
            for await event in stream where event.kind == .scrub && event.done > 0 {
                running.append(event)
                break
            }
        }
        #expect(running.first?.device == first.chardev)
        #expect(await service.devices().isEmpty)
        #expect(try await service.region(0).availableSize == nil)
        backend.release()

        let events = await drain(service, device: first.uuid)
        try #require(events.count >= 2, "a start and an end at least: \(events)")
        #expect(events.last?.state == .finished)
        #expect(events.last?.done == Self.size)
        #expect(events.allSatisfy { $0.total == Self.size && $0.kind == .scrub && $0.device == first.chardev })
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.done <= $1.done && $0.sequence < $1.sequence })
        #expect(backend.scrubbed == [pending.token])
        #expect(await service.pendingScrubs.isEmpty)
        #expect(try await service.region(0).availableSize == Self.size)
        #expect(store.stored?.regions.first?.pendingScrubs == [])

        // Destroyed, then the daemon stops before scrubbing: the next start keeps the memory out of use until its
        // scrub service has scrubbed it.
        scrubbing.cancel()
        _ = await scrubbing.result
        let second = try await service.createDevice(CreateDeviceRequest(size: ByteCount(Self.size)))
        let secondPending = try #require(try await service.destroyDevice(second.chardev, force: true))
        try await restartScrubsPending(secondPending, of: second, store, backend)
        #expect(backend.scrubbed == [pending.token, secondPending.token])
    }

    /// Starts the service again on `store` (as after a crash) and checks that the destroyed `device`'s scrub
    /// `pending` comes back, keeps its memory out of use until the scrub service has ended it, and then frees it;
    /// destroys the region at the end.
    func restartScrubsPending(
        _ pending: PendingScrub, of device: DeviceInfo, _ store: InMemoryStateStoreFake,
        _ backend: ScrubbingBackendFake
    ) async throws {
        let restarted = try await self.service(store, backend)
        #expect(await restarted.pendingScrubs == [pending])
        #expect(try await restarted.region(0).availableSize == nil)
        let scrubbing = startScrubbing(restarted)
        defer { scrubbing.cancel() }
        let after = await drain(restarted, device: device.uuid)
        #expect(after.last?.state == .finished)
        #expect(await restarted.pendingScrubs.isEmpty)
        #expect(try await restarted.region(0).availableSize == Self.size)
        #expect(store.stored?.regions.first?.pendingScrubs == [])
        try await restarted.destroyRegion(0)
    }

    @Test("memory with nothing to zero is free when destroy answers, without a commit; a crash before the next is fine")
    func nothingToZero() async throws {
        let store = InMemoryStateStoreFake()
        let backend = ScrubbingBackendFake(nothingToZero: true)
        let service = try await service(store, backend)
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .hugetlb, size: ByteCount(Self.size), path: "/fake/region0"))
        let first = try await service.createDevice(CreateDeviceRequest(size: ByteCount(Self.size)))
        let (latest, stream) = service.progress.subscribe()
        #expect(latest.allSatisfy { $0.kind != .scrub })

        let pending = try #require(try await service.destroyDevice(first.chardev, force: true))
        #expect(backend.retired == [pending.token] && backend.scrubbedAtOnce == [pending.token])
        #expect(backend.scrubbed.isEmpty, "no scrub was queued: none runs, and none is needed")
        #expect(await service.pendingScrubs.isEmpty)
        #expect(try await service.region(0).availableSize == Self.size, "the memory is free at once")
        #expect(store.stored?.regions.first?.devices.isEmpty == true, "the destroy is committed")
        #expect(store.stored?.regions.first?.pendingScrubs == [pending], "the finish waits for the next commit")
        // The device's owner sees its scrub start and finish, as for one on the scrub thread.
        var events: [ProgressEvent] = []
        for await event in stream where event.kind == .scrub {
            events.append(event)
            if event.state != .running { break }
        }
        #expect(events.first?.device == first.chardev && events.last?.state == .finished)
        #expect(events.last?.done == Self.size && events.last?.total == Self.size)

        // The next commit carries the finish, with its own change.
        let second = try await service.createDevice(CreateDeviceRequest(size: ByteCount(Self.size)))
        #expect(store.stored?.regions.first?.pendingScrubs == [])
        #expect(store.stored?.regions.first?.devices.map(\.record.uuid.description) == [second.uuid])

        // Destroyed, and the daemon is killed before another commit: the next start finds the scrub pending, keeps
        // the memory out of use until its scrub service ends it (the memory is ready: the backend has nothing
        // left to zero), and then frees it.
        let secondPending = try #require(try await service.destroyDevice(second.chardev, force: true))
        #expect(store.stored?.regions.first?.pendingScrubs == [secondPending])
        try await restartScrubsPending(secondPending, of: second, store, backend)
    }

    /// A service with one region of `size` whose one device of `size` was just destroyed; its scrub is held.
    func destroyedDeviceBeingScrubbed() async throws -> (PoolService, ScrubbingBackendFake, Task<Void, any Error>) {
        let backend = ScrubbingBackendFake()
        let service = try await service(InMemoryStateStoreFake(), backend)
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .hugetlb, size: ByteCount(Self.size), path: "/fake/region0"))
        let first = try await service.createDevice(CreateDeviceRequest(size: ByteCount(Self.size)))
        backend.hold()
        let scrubbing = startScrubbing(service)
        _ = try #require(try await service.destroyDevice(first.chardev, force: true))
        try await waitUntil("the destroyed device's scrub started and is held") { backend.isHolding }
        return (service, backend, scrubbing)
    }

    @Test("a create that needs memory still being scrubbed waits for the scrub instead of failing")
    func createWaitsForScrub() async throws {
        // The VM comes back at once, with the same size: its old memory is still being zeroed.
        let (service, backend, scrubbing) = try await destroyedDeviceBeingScrubbed()
        defer { scrubbing.cancel() }
        let create = Task { try await service.createDevice(CreateDeviceRequest(size: ByteCount(Self.size))) }
        // Nothing to wait for here: the right behaviour is that nothing happens. The pause gives a create that wrongly
        // goes ahead the time to do so; the scrub is held (above), so the memory cannot have been freed meanwhile.
        try await Task.sleep(for: .milliseconds(200))
        #expect(await service.devices().isEmpty, "the create went ahead before the scrub freed the memory")
        backend.release()
        let second = try await create.value
        #expect(second.size == Self.size)
        #expect(backend.scrubbed.count == 1, "the create got the memory only after its scrub")
        // A create the region cannot hold even after every scrub still fails at once.
        await #expect(throws: PoolError.self) {
            _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount(2 * Self.size)))
        }
    }

    @Test("a create larger than every part of a region of several fails at once instead of waiting for scrubs")
    func createLargerThanEveryPartDoesNotWait() async throws {
        let (service, backend, scrubbing) = try await destroyedDeviceBeingScrubbed()
        defer {
            backend.release()
            scrubbing.cancel()
        }
        // Two parts of 64 MiB: free and being scrubbed add up to 128 MiB, but no device of 128 MiB fits in one part.
        _ = try await service.resizeRegion(0, ResizeRegionRequest(size: ByteCount(2 * Self.size)))
        #expect(try await service.region(0).segments == [Self.size, Self.size])
        let answer = Answer()
        let create = Task {
            do {
                _ = try await service.createDevice(CreateDeviceRequest(size: ByteCount(2 * Self.size)))
                answer.set(nil)
            } catch {
                answer.set(error)
            }
        }
        defer { create.cancel() }
        try await waitUntil("the create larger than every part answered while the scrub is still held") {
            answer.isSet
        }
        #expect(answer.error is PoolError, "\(String(describing: answer.error))")
        #expect(backend.isHolding, "the create did not wait for the scrub")
    }

    /// Whether a call answered, and with which error, as another task sees it.
    final class Answer: Sendable {
        private let state = Mutex<(isSet: Bool, error: (any Error)?)>((false, nil))
        func set(_ error: (any Error)?) { state.withLock { $0 = (true, error) } }
        var isSet: Bool { state.withLock { $0.isSet } }
        var error: (any Error)? { state.withLock { $0.error } }
    }

    @Test("a backend that gives memory back to the kernel has nothing to scrub")
    func nothingToScrub() async throws {
        let service = try await PoolService(
            backends: [RecordingBackendFake()],
            store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: .mebibytes(64), shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test")
        )
        let device = try await service.createDevice(CreateDeviceRequest(size: ByteCount.mebibytes(64)))
        #expect(try await service.destroyDevice(device.chardev, force: true) == nil)
        #expect(try await service.region(0).availableSize == 64 << 20)
        let prefaults = service.progress.latest.filter { $0.kind == .prefault && $0.device == device.chardev }
        #expect(prefaults.last?.state == .finished && prefaults.last?.done == 64 << 20)
    }
}
