import DaxPoolAPI
import DaxPoolCore
import Hummingbird

/// `GET /metrics`: the Prometheus text format. Anyone who may connect to the socket may read it, so it holds
/// aggregate figures only: per region (by number and backend) its size, free space, largest free extent, device
/// count, bad blocks, page metadata and scrubbed bytes, and per route template and method the request counts,
/// errors and latencies. No device name, uuid, owner or path appears.
struct MetricsController {
    let service: PoolService
    let registry: MetricsRegistry

    func register(on router: Router<DaxPoolRequestContext>) {
        router.get("/metrics") { _, _ in
            let text = Self.render(regions: await service.regions(includeDevices: true), registry.snapshot)
            var buffer = ByteBuffer()
            buffer.writeString(text)
            return Response(
                status: .ok, headers: [.contentType: MetricsExposition.contentType],
                body: ResponseBody(byteBuffer: buffer))
        }
    }

    /// The text for `regions` and the counters in `counters`.
    static func render(regions: [RegionInfo], _ counters: MetricsRegistry.State) -> String {
        var out = MetricsExposition()
        func labels(_ region: RegionInfo) -> [(String, String)] {
            [("region", String(region.id)), ("backend", region.backend.rawValue)]
        }
        let gauges: [(String, String, (RegionInfo) -> UInt64)] = [
            ("daxpool_region_size_bytes", "The region's size in bytes.", { $0.size }),
            (
                "daxpool_region_available_bytes", "Bytes of the region no device holds and no scrub waits for.",
                { $0.availableSize ?? 0 }
            ),
            (
                "daxpool_region_largest_free_extent_bytes",
                "The largest contiguous free extent of the region in bytes.",
                { $0.largestAvailableExtent }
            ),
            ("daxpool_region_devices", "Devices in the region.", { UInt64($0.devices?.count ?? 0) }),
            ("daxpool_region_bad_blocks", "Quarantined bad-block ranges in the region.", { UInt64($0.badblockCount) }),
            (
                "daxpool_region_bad_block_bytes", "Bytes of the region quarantined as bad blocks.",
                { $0.badblocks.reduce(0) { $0 &+ $1.length } }
            ),
            (
                "daxpool_region_page_metadata_bytes",
                "Page metadata (struct page) the host spends on the region's memory, after HVO.",
                { $0.pageMetadata?.bytes.rawValue ?? 0 }
            ),
            (
                "daxpool_region_pending_scrub_bytes", "Bytes of destroyed devices waiting for their scrub.",
                { $0.pendingScrubSize ?? 0 }
            ),
        ]
        for (name, help, value) in gauges {
            out.family(name, .gauge, help: help)
            for region in regions { out.sample(name, labels(region), value(region)) }
        }
        let scrubbed = "daxpool_region_scrubbed_bytes_total"
        out.family(scrubbed, .counter, help: "Bytes of destroyed devices zeroed by finished scrubs since the start.")
        let regionIDs = Set(regions.map(\.id))
        for region in regions { out.sample(scrubbed, labels(region), counters.scrubbedBytes[region.id] ?? 0) }
        for (id, bytes) in counters.scrubbedBytes.sorted(by: { $0.key < $1.key }) where !regionIDs.contains(id) {
            out.sample(scrubbed, [("region", String(id)), ("backend", "")], bytes)
        }

        let requests = counters.requests.sorted { $0.key < $1.key }
        func labels(_ key: MetricsRegistry.StatusKey) -> [(String, String)] {
            [("route", key.request.route), ("method", key.request.method), ("status", key.statusClass)]
        }
        out.family(
            "daxpool_http_requests_total", .counter, help: "Requests answered, by route, method and status class.")
        for (key, count) in requests { out.sample("daxpool_http_requests_total", labels(key), count) }
        out.family(
            "daxpool_http_request_errors_total", .counter,
            help: "Requests answered with a 4xx or 5xx status, by route, method and status class.")
        for (key, count) in requests where key.statusClass == "4xx" || key.statusClass == "5xx" {
            out.sample("daxpool_http_request_errors_total", labels(key), count)
        }
        let duration = "daxpool_http_request_duration_seconds"
        out.family(duration, .histogram, help: "Time from a request's arrival to its answer's head, in seconds.")
        for (key, histogram) in counters.latencies.sorted(by: { $0.key < $1.key }) {
            out.histogram(duration, [("route", key.route), ("method", key.method)], histogram)
        }
        return out.text
    }
}
