import DaxPoolCore
import ServiceLifecycle

/// Adds each finished scrub's bytes to `MetricsRegistry` (`daxpool_region_scrubbed_bytes_total`). It reads the
/// pool's `ProgressHub`; the subscription is taken when the tally is made, before any scrub can start, so none is
/// missed. Runs until the hub's streams end or graceful shutdown.
struct MetricsScrubTally: Service {
    let registry: MetricsRegistry
    private let events: AsyncStream<ProgressEvent>

    init(hub: ProgressHub, registry: MetricsRegistry) {
        self.registry = registry
        events = hub.subscribe(.everything).stream
    }

    func run() async throws {
        let registry = registry
        let events = events
        await cancelWhenGracefulShutdown {
            for await event in events where event.kind == .scrub && event.state == .finished {
                registry.recordScrubbed(event.done, region: event.region)
            }
        }
    }
}
