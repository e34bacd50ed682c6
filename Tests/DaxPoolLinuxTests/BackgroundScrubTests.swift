import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Glibc
import Logging
import Testing

/// Destroy answers before the memory is zeroed; the scrub service zeroes it off the pool actor, reporting progress,
/// and only then is the memory free again. Needs root (hugetlb).
@Suite(
    "background scrub", .serialized, .enabled(if: HugetlbTestSupport.isRoot, HugetlbTestSupport.rootReason))
struct BackgroundScrubTests {
    static let size: UInt64 = 256 << 20

    func service(_ root: String) async throws -> PoolService {
        try await PoolService(
            backends: [HugetlbBackend(scrubThreads: 2)],
            store: JSONFileStateStore(directory: "\(root)/state"),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: root, hugetlbRoot: root),
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

    static func write(_ byte: UInt8, to path: String) throws {
        try TenantIsolationProbe.withMapping(path, writable: true) { bytes in
            _ = bytes.initializeMemory(as: UInt8.self, repeating: byte)
        }
    }

    static func isZero(_ path: String) throws -> Bool {
        try TenantIsolationProbe.withMapping(path, writable: false) { bytes in
            TenantIsolationProbe.firstNonZero(UnsafeRawBufferPointer(bytes)) == nil
        }
    }

    @Test(
        "a destroyed hugetlb device is scrubbed in the background with monotonic progress ending at its size, and its memory is free only after that, also across a restart"
    )
    func scrubInBackground() async throws {
        try await HugetlbTestSupport.withPoolAsync { root in
            let service = try await service(root)
            _ = try await service.createRegion(
                CreateRegionRequest(
                    backend: .hugetlb, size: SizeValue(bytes: Self.size), path: "\(root)/region0", pageSize: "2M"))
            let first = try await service.createDevice(CreateDeviceRequest(size: SizeValue(bytes: Self.size)))
            try Self.write(0xA5, to: try #require(first.path))

            // Destroy answers with the scrub still to do: the memory is not free and nothing can be made from it.
            let pending = try #require(try await service.destroyDevice(first.chardev, force: true))
            #expect(pending.size.rawValue == Self.size)
            #expect(try await service.region(0).availableSize == nil)
            await #expect(throws: PoolError.self) {
                _ = try await service.createDevice(CreateDeviceRequest(size: SizeValue("2M")))
            }
            #expect(await service.pendingScrubs == [pending])

            let scrubbing = startScrubbing(service)
            defer { scrubbing.cancel() }
            let events = await drain(service, device: first.uuid)
            try #require(events.count >= 2, "a start and an end at least: \(events)")
            #expect(events.first?.state == .running)
            #expect(events.last?.state == .finished)
            #expect(events.last?.done == Self.size)
            #expect(events.allSatisfy { $0.total == Self.size && $0.kind == .scrub })
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.done <= $1.done && $0.sequence < $1.sequence })
            #expect(await service.pendingScrubs.isEmpty)
            #expect(try await service.region(0).availableSize == Self.size)

            // The scrubbed memory came back as a pooled file: the next owner reads zeros only.
            let second = try await service.createDevice(CreateDeviceRequest(size: SizeValue(bytes: Self.size)))
            let secondPath = try #require(second.path)
            #expect(try Self.isZero(secondPath))
            try Self.write(0x5A, to: secondPath)

            // Destroyed, then the daemon stops before scrubbing: the next start keeps the memory out of use until
            // its scrub service has dealt with it.
            scrubbing.cancel()
            _ = await scrubbing.result
            _ = try await service.destroyDevice(second.chardev, force: true)
            let restarted = try await self.service(root)
            #expect(await restarted.pendingScrubs.count == 1)
            #expect(try await restarted.region(0).availableSize == nil)
            let restartedScrubbing = startScrubbing(restarted)
            defer { restartedScrubbing.cancel() }
            let after = await drain(restarted, device: second.uuid)
            #expect(after.last?.state == .finished)
            #expect(await restarted.pendingScrubs.isEmpty)
            let third = try await restarted.createDevice(CreateDeviceRequest(size: SizeValue(bytes: Self.size)))
            #expect(try Self.isZero(try #require(third.path)))
            _ = try await restarted.destroyDevice(third.chardev, force: true)
            _ = await drain(restarted, device: third.uuid)
            try await restarted.destroyRegion(0)
        }
    }
}

extension HugetlbTestSupport {
    /// `withPool` for async bodies.
    static func withPoolAsync(_ body: (String) async throws -> Void) async throws {
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        precondition(lock >= 0, "open \(lockPath): \(errno)")
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        let root = "/tmp/daxpool-hugetlb-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let before = (count(.page2M), count(.page1G))
        defer {
            cleanUp(root)
            if count(.page2M) != before.0 { setCount(before.0, .page2M) }
            if count(.page1G) != before.1 { setCount(before.1, .page1G) }
        }
        try await body(root)
    }
}
