import Synchronization

/// Request latencies in buckets: `counts[i]` requests took at most `bounds[i]` seconds and more than the bound
/// before; `count` and `sum` cover every request, those beyond the last bound too.
struct MetricsHistogram: Sendable {
    /// Upper bounds in seconds: from half a millisecond (a read answered from memory) to ten seconds (a large
    /// create that prefaults or a commit waiting behind a scrub).
    static let defaultBounds: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    let bounds: [Double]
    private(set) var counts: [UInt64]
    private(set) var count: UInt64 = 0
    private(set) var sum: Double = 0

    init(bounds: [Double] = Self.defaultBounds) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ seconds: Double) {
        if let index = bounds.firstIndex(where: { seconds <= $0 }) { counts[index] += 1 }
        count += 1
        sum += seconds
    }
}

/// The daemon's own counters for `GET /metrics`: requests by route, method and status class with their latency,
/// and the bytes scrubbed in each region. Region figures are not kept here; the route reads them from the pool.
///
/// Labels hold only route templates (`/v1/devices/{device}`, never a device's name), methods, status classes and
/// region numbers, so that the text shows no tenant's names or uids.
public final class MetricsRegistry: Sendable {
    struct RequestKey: Hashable, Comparable {
        var route: String
        var method: String

        static func < (left: Self, right: Self) -> Bool {
            (left.route, left.method) < (right.route, right.method)
        }
    }

    struct StatusKey: Hashable, Comparable {
        var request: RequestKey
        /// `2xx`, `4xx`, ...
        var statusClass: String

        static func < (left: Self, right: Self) -> Bool {
            (left.request, left.statusClass) < (right.request, right.statusClass)
        }
    }

    struct State {
        var requests: [StatusKey: UInt64] = [:]
        var latencies: [RequestKey: MetricsHistogram] = [:]
        var scrubbedBytes: [Int: UInt64] = [:]
    }

    private let state = Mutex(State())

    /// An empty registry: no requests counted, no latencies, no bytes scrubbed.
    public init() {}

    /// Records one answered request: `route` is the route's template (`unmatched` when no route matched).
    func record(route: String, method: String, status: Int, seconds: Double) {
        let request = RequestKey(route: route, method: method)
        let key = StatusKey(request: request, statusClass: "\(min(max(status / 100, 1), 5))xx")
        state.withLock { state in
            state.requests[key, default: 0] += 1
            state.latencies[request, default: MetricsHistogram()].observe(seconds)
        }
    }

    /// Adds `bytes` zeroed by a finished scrub in `region`.
    func recordScrubbed(_ bytes: UInt64, region: Int) {
        state.withLock { $0.scrubbedBytes[region, default: 0] &+= bytes }
    }

    /// A copy of the counters.
    var snapshot: State { state.withLock { $0 } }
}
