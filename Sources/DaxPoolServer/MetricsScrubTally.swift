import DaxPoolCore

/// Adds each finished scrub's bytes to `MetricsRegistry` (`daxpool_region_scrubbed_bytes_total`). It observes the
/// ends of the pool's `ProgressHub` operations (`ProgressHub.observeEnds`), registered before any scrub can start,
/// so none is missed; the count is taken on the thread that ends the scrub, with no task of its own to wake.
enum MetricsScrubTally {
    /// Counts every scrub `hub` sees finish into `registry`.
    static func attach(hub: ProgressHub, registry: MetricsRegistry) {
        hub.observeEnds { event in
            guard event.kind == .scrub, event.state == .finished else { return }
            registry.recordScrubbed(event.done, region: event.region)
        }
    }
}
