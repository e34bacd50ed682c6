import DaxPoolCore
import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// One destroyed device's memory to zero.
struct ScrubJob: Sendable {
    var region: RegionConfig
    var scrub: PendingScrub
    var backend: any MemoryBackend
}

/// Work the `ScrubService` does off the pool actor, in order.
enum BackgroundJob: Sendable {
    case scrub(ScrubJob)
    /// Make the ready files region `region`'s pool lacks.
    case fill(region: Int)
}

/// Set once at shutdown; read by a fill between its steps.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .relaxed) }

    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// The scrubs queued and not yet started: a fill gives way to them between its steps, because a pending scrub
/// keeps memory out of use and a fill only makes it faster to hand out.
final class QueuedScrubs: Sendable {
    private let value = Atomic<Int>(0)

    func added() { value.add(1, ordering: .relaxed) }

    func started() { value.subtract(1, ordering: .relaxed) }

    var count: Int { value.load(ordering: .relaxed) }

    /// Whether a `ScrubService` is running for the pool (so that pending scrubs will finish).
    private let servicesRunning = Atomic<Int>(0)

    var isServed: Bool { servicesRunning.load(ordering: .relaxed) > 0 }

    func serviceStarted() { servicesRunning.add(1, ordering: .relaxed) }

    func serviceStopped() { servicesRunning.subtract(1, ordering: .relaxed) }
}

/// Zeroes destroyed devices' memory in the background, one device at a time, on a thread of its own (the
/// scrubber adds its helper threads), so that the pool actor keeps answering requests meanwhile. Each scrub
/// publishes its progress and, when it is done, frees the memory in the pool (`PoolService.finishScrub`); the
/// zeroed memory then refills the backend's pool of ready memory. Scrubs that are still pending at shutdown were
/// persisted and are done after the next start.
///
/// It also fills regions' pools (`RegionConfig.pool`): after a region is created or its pool set, after a device
/// is created or resized in it, after a scrub in it and at start, the region's missing ready files are made on
/// the same thread, a step at a time, so that a request waits at most for one step of a fill.
public struct ScrubService: Service {
    let service: PoolService
    let logger: Logger
    private let queue = DispatchQueue(label: "daxpool.scrub")
    private let stopping = StopFlag()

    /// A service scrubbing and filling pools for `service`, logging to `logger`.
    public init(service: PoolService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    /// Scrubs jobs in order until graceful shutdown, which lets the scrub in hand finish; jobs not started stay
    /// pending in the saved state.
    public func run() async throws {
        let service = service
        let stopping = stopping
        service.queuedScrubs.serviceStarted()
        defer { service.queuedScrubs.serviceStopped() }
        await withGracefulShutdownHandler {
            // A finished scrub's commit runs beside the next scrub: scrubs queued behind each other do not wait
            // for each other's fsync, and their commits share one (group commit). Shutdown waits for them.
            await withDiscardingTaskGroup { commits in
                for await job in service.scrubJobs {
                    switch job {
                    case .scrub(let scrub):
                        service.queuedScrubs.started()
                        let finish = await self.scrub(scrub)
                        commits.addTask { await finish() }
                    case .fill(let region):
                        await fill(region)
                    }
                }
            }
        } onGracefulShutdown: {
            stopping.set()
            service.stopScrubbing()
        }
    }

    /// Runs one scrub on the scrub thread.
    /// - Returns: What frees its memory (`PoolService.finishScrub`, a durable commit) and ends its progress.
    func scrub(_ job: ScrubJob) async -> @Sendable () async -> Void {
        let hub = service.progress
        let operation = hub.start(
            .scrub, region: job.region.id, device: job.scrub.device, uuid: job.scrub.deviceUUID,
            name: job.scrub.deviceName, total: job.scrub.size
        )
        let failure: String? = await withCheckedContinuation { continuation in
            queue.async {
                do {
                    try job.backend.scrubRetired(token: job.scrub.token, size: job.scrub.size, in: job.region) {
                        done, _ in
                        hub.update(operation, done: done)
                    }
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: "\(error)")
                }
            }
        }
        if let failure {
            logger.warning(
                "scrub failed; the memory went back to the kernel or stays out of use until the next start",
                metadata: ["device": "\(job.scrub.device)", "error": "\(failure)"])
        }
        let service = service
        return {
            await service.finishScrub(job)
            hub.finish(operation, failure: failure)
        }
    }

    /// Fills region `id`'s pool on the scrub thread, publishing progress; stops at shutdown.
    func fill(_ id: Int) async {
        guard let (region, backend) = await service.startFill(id) else { return }
        let hub = service.progress
        let stopping = stopping
        let scrubs = service.queuedScrubs
        let failure: String? = await withCheckedContinuation { continuation in
            queue.async {
                var operation: UInt64?
                var interrupted: String?
                do {
                    try backend.fillPool(
                        in: region,
                        shouldContinue: {
                            if stopping.isSet { interrupted = "stopped at shutdown; the next start goes on" }
                            if scrubs.count > 0 { interrupted = "gave way to a scrub; it goes on after it" }
                            return interrupted == nil
                        }
                    ) { done, total in
                        if operation == nil, total.rawValue > 0 {
                            operation = hub.startFill(region: region.id, total: total)
                        }
                        if let operation { hub.update(operation, done: done) }
                    }
                    if let operation { hub.finish(operation, failure: interrupted) }
                    continuation.resume(returning: nil)
                } catch {
                    if let operation { hub.finish(operation, failure: "\(error)") }
                    continuation.resume(returning: "\(error)")
                }
            }
        }
        if let failure {
            logger.warning("filling the region's pool failed", metadata: ["region": "\(id)", "error": "\(failure)"])
        } else if scrubs.count > 0, !stopping.isSet {
            // It gave way to a scrub: finish it after the scrubs.
            await service.queueFill(id)
        }
    }
}
