import Foundation

/// One line of the results: daxpool's figure, the baseline measured in the same run, their ratio, the design target
/// (BENCHMARKS.md lists them) and whether it is met.
struct Row: Codable, Sendable {
    var section: String
    var name: String
    var daxpool: String
    var baseline: String
    var ratio: String
    var target: String
    var verdict: String
    /// Raw figures (nanoseconds, bytes, GB/s), for tools that read bench-results.json.
    var metrics: [String: Double]
    /// What the row measures and how, or why it has no figure.
    var note: String

    init(
        section: String, name: String, daxpool: String, baseline: String = "—", ratio: String = "—",
        target: String = "—", verdict: String = "measured (no target)", metrics: [String: Double] = [:],
        note: String = ""
    ) {
        self.section = section
        self.name = name
        self.daxpool = daxpool
        self.baseline = baseline
        self.ratio = ratio
        self.target = target
        self.verdict = verdict
        self.metrics = metrics
        self.note = note
    }
}

/// How a figure compares with its target.
enum Verdict {
    /// The figure must be at most `limit` (a time, a size).
    static func atMost(_ value: Double, _ limit: Double) -> String {
        guard value.isFinite else { return "not measured" }
        return value <= limit ? "meets" : "falls short by \(factor(value / limit))"
    }

    /// The figure must be at least `limit` (a bandwidth, a fraction).
    static func atLeast(_ value: Double, _ limit: Double) -> String {
        guard value.isFinite, value > 0 else { return "not measured" }
        return value >= limit ? "meets" : "falls short by \(factor(limit / value))"
    }

    static func factor(_ value: Double) -> String {
        format(value, digits: value < 10 ? 2 : value < 100 ? 1 : 0) + "×"
    }
}

/// Number formatting without Foundation's locale machinery.
func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "n/a" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded() / scale
    let whole = Int(rounded)
    let fraction = Int(((rounded - Double(whole)) * scale).rounded())
    let sign = value < 0 && rounded > 0 ? "-" : ""
    guard digits > 0 else { return "\(sign)\(whole)" }
    var fractionText = String(fraction)
    while fractionText.count < digits { fractionText = "0" + fractionText }
    return "\(sign)\(whole).\(fractionText)"
}

/// A duration in nanoseconds, in the unit that reads best.
func formatDuration(_ nanoseconds: Double) -> String {
    guard nanoseconds.isFinite else { return "n/a" }
    if nanoseconds < 1_000 { return format(nanoseconds, digits: 0) + " ns" }
    if nanoseconds < 1_000_000 { return format(nanoseconds / 1e3, digits: nanoseconds < 10_000 ? 2 : 1) + " µs" }
    if nanoseconds < 1e9 { return format(nanoseconds / 1e6, digits: nanoseconds < 1e7 ? 2 : 1) + " ms" }
    return format(nanoseconds / 1e9, digits: 2) + " s"
}

/// A byte count in binary units.
func formatBytes(_ bytes: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = bytes
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return format(value, digits: value < 10 && unit > 0 ? 2 : value < 100 && unit > 0 ? 1 : 0) + " " + units[unit]
}

/// `p50 … / p99 …` for a set of samples.
func formatPercentiles(_ samples: Samples) -> String {
    "p50 \(formatDuration(samples.median)), p99 \(formatDuration(samples.p99))"
}

/// A ratio `daxpool ÷ baseline`.
func formatRatio(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    if value >= 100 { return format(value, digits: 0) + "×" }
    if value >= 0.01 { return format(value, digits: 2) + "×" }
    return "1/" + format(1 / value, digits: 0)
}

/// The machine a run was on.
struct Machine: Codable, Sendable {
    var cpuModel: String
    var onlineCPUs: Int
    var kernel: String
    var memory: String
    var loadAverageBefore: String
    var loadAverageAfter: String

    static func current() -> Machine {
        let cpuinfo = readText("/proc/cpuinfo") ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }.map {
                String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces)
            } ?? "unknown"
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let vector = flags.contains("avx512f") ? "AVX-512" : flags.contains("avx2") ? "AVX2, no AVX-512" : "SSE2"
        let kernel = (readText("/proc/sys/kernel/osrelease") ?? "unknown").trimmingCharacters(
            in: .whitespacesAndNewlines)
        let memTotal =
            (readText("/proc/meminfo") ?? "").split(separator: "\n").first { $0.hasPrefix("MemTotal") }.map {
                $0.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            } ?? ""
        let memory = Double(memTotal).map { formatBytes($0 * 1024) } ?? "unknown"
        return Machine(
            cpuModel: "\(model) (\(vector))", onlineCPUs: onlineProcessors(), kernel: kernel, memory: memory,
            loadAverageBefore: loadAverage(), loadAverageAfter: ""
        )
    }

    static func loadAverage() -> String {
        (readText("/proc/loadavg") ?? "").split(separator: " ").prefix(3).joined(separator: " ")
    }
}

/// Everything one run produced, as written to bench-results.json.
struct Results: Codable, Sendable {
    var machine: Machine
    var command: String
    var quick: Bool
    var started: String
    var seconds: Double
    var clockOverheadNanoseconds: Double
    var rows: [Row]

    /// The results as a Markdown table plus the notes.
    var markdown: String {
        var lines: [String] = []
        lines.append(
            "Machine: \(machine.cpuModel), \(machine.onlineCPUs) CPUs, \(machine.memory), Linux \(machine.kernel); "
                + "load average \(machine.loadAverageBefore) before, \(machine.loadAverageAfter) after. "
                + "Run \(started), \(format(seconds, digits: 0)) s\(quick ? ", quick mode" : ""). "
                + "Reading the clock costs \(formatDuration(clockOverheadNanoseconds)), included in every latency."
        )
        lines.append("")
        lines.append("| | What | daxpool | Baseline (same run) | Ratio | Target | Verdict |")
        lines.append("|---|---|---|---|---|---|---|")
        for (index, row) in rows.enumerated() {
            let cells = [
                "\(index + 1)", row.name, row.daxpool, row.baseline, row.ratio, row.target, "**\(row.verdict)**",
            ].map { $0.replacingOccurrences(of: "|", with: "\\|") }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        let notes = rows.enumerated().filter { !$0.element.note.isEmpty }
        if !notes.isEmpty {
            lines.append("")
            lines.append("Notes:")
            lines.append("")
            for (index, row) in notes { lines.append("\(index + 1). \(row.note)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

func readText(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: data, as: UTF8.self)
}
