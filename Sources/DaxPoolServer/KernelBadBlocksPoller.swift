import DaxPoolAPI
import DaxPoolCore
import Logging
import ServiceLifecycle

/// Reads the kernel's bad blocks of regions backed by nd regions at start and then every `interval`, and records
/// every range the pool does not know yet as a memory error with source `badblocks` (attributed to the device
/// that holds it, quarantined, persisted and announced, as `inject-error` is).
public struct KernelBadBlocksPoller: Service {
    /// One daxpool region watched through one nd region's `badblocks`.
    public struct Source: Sendable {
        /// The daxpool region.
        public var region: Int
        /// Where the region's offset 0 lies in the nd region, in bytes.
        public var base: UInt64
        /// The nd region's bad ranges, as byte extents from its start (`NDBadBlocks.ranges`).
        public var read: @Sendable () throws -> [Extent]

        /// A source for daxpool region `region`, whose offset 0 lies `base` bytes into the nd region that `read` reads.
        public init(region: Int, base: UInt64, read: @escaping @Sendable () throws -> [Extent]) {
            self.region = region
            self.base = base
            self.read = read
        }
    }

    let service: PoolService
    let sources: [Source]
    let interval: Duration
    let logger: Logger

    /// A poller recording into `service` the new bad blocks of `sources`, read every `interval`; read failures go to
    /// `logger` as warnings.
    public init(service: PoolService, sources: [Source], interval: Duration, logger: Logger) {
        self.service = service
        self.sources = sources
        self.interval = interval
        self.logger = logger
    }

    /// Polls every `interval` until graceful shutdown (the first poll one interval after start); with no sources,
    /// only waits for shutdown. A failing read is logged and retried next time, never ends the service.
    public func run() async throws {
        guard !sources.isEmpty else {
            // Nothing to poll; a service group takes an early return for a failure, so wait for shutdown.
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            await poll()
        }
    }

    /// Reads every source once and records what is new.
    /// - Returns: the events recorded.
    @discardableResult
    public func poll() async -> [MemoryErrorEvent] {
        var produced: [MemoryErrorEvent] = []
        for source in sources {
            do {
                let ranges = try source.read()
                produced += try await service.recordKernelBadBlocks(region: source.region, base: source.base, ranges)
            } catch {
                logger.warning(
                    "cannot read the kernel's bad blocks",
                    metadata: ["region": "\(source.region)", "error": "\(error)"])
            }
        }
        return produced
    }
}
