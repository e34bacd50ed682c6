/// A set of measured durations in nanoseconds, with the percentiles the report uses.
struct Samples: Sendable {
    private(set) var values: [Double] = []

    init() {}

    init(_ values: [Double]) { self.values = values }

    var count: Int { values.count }

    mutating func append(_ nanoseconds: Double) { values.append(nanoseconds) }

    mutating func append(_ duration: Duration) { values.append(duration.nanoseconds) }

    /// The value at quantile `q` (0...1), nearest rank.
    func percentile(_ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let exact = q * Double(sorted.count)
        var rank = Int(exact)
        if Double(rank) < exact { rank += 1 }
        rank -= 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    var median: Double { percentile(0.5) }
    var p99: Double { percentile(0.99) }
    var minimum: Double { values.min() ?? .nan }
    var maximum: Double { values.max() ?? .nan }
    var mean: Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }
}

extension Duration {
    /// The duration in nanoseconds.
    var nanoseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }
}

/// Times `body` once.
@inline(__always)
func measure<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let value = try body()
    return (value, (clock.now - start).nanoseconds)
}

/// The cost of reading the clock, to put sub-microsecond figures in context.
func clockOverheadNanoseconds() -> Double {
    let clock = ContinuousClock()
    var samples = Samples()
    for _ in 0..<10_000 {
        let start = clock.now
        let end = clock.now
        samples.append(end - start)
    }
    return samples.median
}
