import DaxPoolCore
import Dispatch
import Logging
import ServiceLifecycle

/// One destroyed device's memory to zero.
struct ScrubJob: Sendable {
    var region: RegionConfig
    var scrub: PendingScrub
    var backend: any MemoryBackend
}

/// Zeroes destroyed devices' memory in the background, one device at a time, on a thread of its own (the
/// scrubber adds its helper threads), so that the pool actor keeps answering requests meanwhile. Each scrub
/// publishes its progress and, when it is done, frees the memory in the pool (`PoolService.finishScrub`); the
/// zeroed memory then refills the backend's pool of ready memory. Scrubs that are still pending at shutdown were
/// persisted and are done after the next start.
public struct ScrubService: Service {
    let service: PoolService
    let logger: Logger
    private let queue = DispatchQueue(label: "daxpool.scrub")

    public init(service: PoolService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    /// Scrubs jobs in order until graceful shutdown, which lets the scrub in hand finish; jobs not started stay
    /// pending in the saved state.
    public func run() async throws {
        let service = service
        await withGracefulShutdownHandler {
            for await job in service.scrubJobs {
                await scrub(job)
            }
        } onGracefulShutdown: {
            service.stopScrubbing()
        }
    }

    /// Runs one scrub on the scrub thread and frees its memory.
    func scrub(_ job: ScrubJob) async {
        let hub = service.progress
        let operation = hub.start(
            .scrub, region: job.region.id, device: job.scrub.device, uuid: job.scrub.deviceUUID,
            name: job.scrub.deviceName, total: job.scrub.size
        )
        let failure: String? = await withCheckedContinuation { continuation in
            queue.async {
                do {
                    try job.backend.scrubRetired(token: job.scrub.token, in: job.region) { done, _ in
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
        await service.finishScrub(job)
        hub.finish(operation, failure: failure)
    }
}
