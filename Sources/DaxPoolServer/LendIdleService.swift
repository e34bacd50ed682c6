import DaxPoolCore
import Logging
import ServiceLifecycle

/// The `serve --lend-idle` policy's background step: every `interval`, lends the free memory of each devdax region
/// beyond the reserve (`PoolService.lendIdle`). A create that needs it back reclaims it on its own
/// (`PoolService.reclaimForCreate`).
public struct LendIdleService: Service {
    let service: PoolService
    let interval: Duration

    /// A service lending `service`'s idle devdax memory every `interval`, when the daemon runs with `--lend-idle`.
    public init(service: PoolService, interval: Duration) {
        self.service = service
        self.interval = interval
    }

    /// Waits for shutdown when the policy is off.
    public func run() async throws {
        guard await service.lendsIdleMemory else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await service.lendIdle()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
