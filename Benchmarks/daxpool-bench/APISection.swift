import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation

/// API rows: create + destroy round trips through the real daemon with `DaxPoolClient`, against a trivial HTTP
/// server on a Unix socket with the same client, in the same run.
enum APISection {
    struct Config {
        var label: String
        var backend: BackendKind
        var durable: Bool
    }

    static func run(quick: Bool, log: @escaping @Sendable (String) -> Void) async -> [Row] {
        let iterations = quick ? 300 : 2_000
        let seconds = quick ? 1.0 : 3.0
        let directory: TemporaryDirectory
        do { directory = try TemporaryDirectory(prefix: "daxpool-bench-api") } catch {
            return [
                Row(section: "api", name: "API", daxpool: "not measured", verdict: "not measured", note: "\(error)")
            ]
        }
        defer { directory.remove() }
        let shmRoot = "/dev/shm/daxpool-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: shmRoot) }

        // Baselines first: the same client against a one-route Hummingbird app and against a raw socket loop.
        log("api: baselines")
        let echo = await EchoServer.start(socketPath: directory.path + "/echo.sock")
        let echoSamples = await onThread { roundTrips(socket: echo.socketPath, iterations: iterations, body: echoCall) }
        let echoThroughput = await throughput(socket: echo.socketPath, seconds: seconds, threads: 1) {
            echoCall($0, $1)
        }
        await echo.stop()
        let raw = RawEchoServer(socketPath: directory.path + "/raw.sock")
        var rawSamples = Samples()
        do {
            try raw.start()
            rawSamples = await onThread { roundTrips(socket: raw.socketPath, iterations: iterations, body: echoCall) }
            raw.stop()
        } catch { log("api: raw echo server: \(error)") }

        // The disk's floor in the same run: one 4 KiB pwrite + fsync in the state directory's file system.
        let fsyncSamples = await onThread { fsyncBaseline(path: directory.path + "/fsync-baseline", iterations: 300) }
        let fsyncTarget = 4 * fsyncSamples.median + 1_000_000

        var rows: [Row] = []
        let configs = [
            Config(
                label: "sim region, journal state store (durable, as the daemon runs)", backend: .sim, durable: true),
            Config(label: "shm region (2 MiB files), journal state store (durable)", backend: .shm, durable: true),
            Config(
                label: "sim region, label state store of before the journal (durable)", backend: .sim, durable: true),
            Config(label: "sim region, state kept in memory (no fsync)", backend: .sim, durable: false),
        ]
        // As `daxpool serve` does: device memory is mapped to hear of memory errors where the kernel reports them, and
        // as root each shm region gets its own tmpfs mount (with huge pages where they fit).
        let mountsRegions = geteuid() == 0
        let watcher = DeviceMemoryWatcher.kernelHandlesMemoryFailure() ? DeviceMemoryWatcher(logger: quietLogger) : nil
        for (index, config) in configs.enumerated() {
            log("api: \(config.label)")
            let stateDirectory = directory.path + "/state\(index)"
            let store: any StateStore
            if !config.durable {
                store = InMemoryStateStoreFake()
            } else if index == 2 {
                store = LabelStateStore(directory: stateDirectory)
            } else {
                store = LedgerStateStore(directory: stateDirectory)
            }
            let socket = directory.path + "/daxpool\(index).sock"
            do {
                let daemon = try await InProcessDaemon.start(
                    socketPath: socket,
                    backends: [
                        SimBackend(),
                        ShmBackend(logger: quietLogger, watcher: watcher, mountsRegions: mountsRegions),
                    ],
                    store: store,
                    shmRoot: shmRoot)
                let region = try await daemon.service.createRegion(
                    CreateRegionRequest(backend: config.backend, size: ByteCount.gibibytes(1))
                )
                let regionID = region.id
                let samples = await onThread {
                    roundTrips(socket: socket, iterations: iterations) { createDestroy($0, region: regionID, tag: $1) }
                }
                let paired = await pairedThroughput(socket: socket, seconds: seconds) {
                    createDestroy($0, region: regionID, tag: $1)
                }
                let (single, parallel) = (paired.single, paired.parallel)
                // Destroying the region unmounts its tmpfs; should that fail, the mount is detached, so that the
                // bench leaves no mount behind.
                do { try await daemon.service.destroyRegion(regionID) } catch {
                    log("api: destroying region \(regionID): \(error)")
                    if mountsRegions && config.backend == .shm { umount2(region.path, Int32(MNT_DETACH)) }
                }
                await daemon.stop()
                let isTargetRow = index == 0
                let isJournal = index < 2
                rows.append(
                    Row(
                        section: "api",
                        name: "API create+destroy round trip, \(config.label)",
                        daxpool: formatPercentiles(samples),
                        baseline: "4 KiB pwrite + fsync: " + formatPercentiles(fsyncSamples)
                            + "; one-route Hummingbird echo: " + formatPercentiles(echoSamples),
                        ratio: formatRatio(samples.median / fsyncSamples.median) + " of one fsync (p50)",
                        target: isJournal ? "p50 ≤ 4 × fsync + 1 ms (\(formatDuration(fsyncTarget)))" : "—",
                        verdict: isJournal ? Verdict.atMost(samples.median, fsyncTarget) : "measured (no target)",
                        metrics: [
                            "p50_ns": samples.median, "p99_ns": samples.p99, "baseline_p50_ns": echoSamples.median,
                            "baseline_p99_ns": echoSamples.p99, "raw_socket_p50_ns": rawSamples.median,
                            "fsync_p50_ns": fsyncSamples.median,
                            "samples": Double(samples.count),
                        ],
                        note: isTargetRow
                            ? "API rows: one create (`POST /v1/devices`, 2 MiB) and one forced destroy "
                                + "(`DELETE /v1/devices/daxR.N?force=true`), sequential, on one kept-alive connection of "
                                + "`DaxPoolClient`, against the in-process daemon (`PoolService` + `buildApplication`). "
                                + "Each call commits the state before answering, so a round trip holds two durable "
                                + "commits. Baselines: the same client against a one-route Hummingbird app on a Unix "
                                + "socket (two requests per round trip, like create+destroy), and against a raw socket "
                                + "loop answering a fixed response: \(formatPercentiles(rawSamples))."
                            : ""
                    )
                )
                rows.append(
                    Row(
                        section: "api",
                        name: "API throughput, \(config.label)",
                        daxpool: "\(format(parallel, digits: 0)) round trips/s (16 clients)",
                        baseline: "the same daemon, 1 client: \(format(single, digits: 0)) round trips/s; echo: "
                            + "\(format(echoThroughput, digits: 0))/s",
                        ratio: formatRatio(paired.ratio) + " (16 clients / 1, median of \(paired.turns) paired turns)",
                        target: isJournal ? "16 clients ≥ 3× one client" : "—",
                        verdict: isJournal ? Verdict.atLeast(paired.ratio, 3) : "measured (no target)",
                        metrics: [
                            "per_second_1": single, "per_second_16": parallel, "baseline_per_second": echoThroughput,
                            "ratio_median": paired.ratio,
                        ]
                    )
                )
            } catch {
                rows.append(
                    Row(
                        section: "api", name: "API create+destroy, \(config.label)", daxpool: "not measured",
                        verdict: "not measured", note: "\(error)"))
            }
        }
        return rows
    }

    /// Times `iterations` 4 KiB pwrites + fsyncs over one block of a file at `path` (`FsyncProbe`).
    static func fsyncBaseline(path: String, iterations: Int) -> Samples {
        var samples = Samples()
        guard let probe = try? FsyncProbe(path: path) else { return samples }
        for iteration in 0..<iterations { samples.append(probe.measure(iteration)) }
        return samples
    }

    /// One echo round trip: two requests, as create + destroy are two.
    static func echoCall(_ client: UnixHTTPClient, _ tag: Int) -> Bool {
        let body = Array(#"{"region":0,"size":"2M"}"#.utf8)
        guard let first = try? client.send(method: "POST", path: "/echo", body: body), first.status == 200,
            let second = try? client.send(method: "DELETE", path: "/echo/dax0.\(tag)"), second.status < 300
        else { return false }
        return true
    }

    /// One create + destroy through the API.
    static func createDestroy(_ client: UnixHTTPClient, region: Int, tag: Int) -> Bool {
        let body = Array(#"{"region":\#(region),"size":"2M"}"#.utf8)
        guard let created = try? client.send(method: "POST", path: "/v1/devices", body: body),
            (200..<300).contains(created.status),
            let info = try? JSONDecoder().decode(DeviceInfo.self, from: Data(created.body)),
            let destroyed = try? client.send(method: "DELETE", path: "/v1/devices/\(info.chardev)?force=true"),
            (200..<300).contains(destroyed.status)
        else { return false }
        return true
    }

    /// Times `iterations` round trips on one kept-alive connection, after a warm-up.
    static func roundTrips(socket: String, iterations: Int, body: (UnixHTTPClient, Int) -> Bool) -> Samples {
        let client = UnixHTTPClient(socketPath: socket)
        for index in 0..<min(50, iterations) { _ = body(client, index) }
        var samples = Samples()
        let clock = ContinuousClock()
        for index in 0..<iterations {
            let start = clock.now
            let ok = body(client, index)
            let elapsed = clock.now - start
            if ok { samples.append(elapsed) }
        }
        return samples
    }

    /// One client's and 16 clients' round trips per second, measured in turns (1, 16, 1, 16, …) of a second or less
    /// each for `seconds` in all per side, so that a change in the machine's load falls on both alike. Returns the
    /// medians of each side's turns and the median of the ratios of adjacent turns.
    static func pairedThroughput(
        socket: String,
        seconds: Double,
        body: @escaping @Sendable (UnixHTTPClient, Int) -> Bool
    ) async -> (single: Double, parallel: Double, ratio: Double, turns: Int) {
        let turns = max(1, Int(seconds.rounded(.up)) * 2)
        let turnSeconds = seconds / Double(turns)
        var singles: [Double] = []
        var parallels: [Double] = []
        for _ in 0..<turns {
            singles.append(await throughput(socket: socket, seconds: turnSeconds, threads: 1, body: body))
            parallels.append(await throughput(socket: socket, seconds: turnSeconds, threads: 16, body: body))
        }
        let ratios = zip(parallels, singles).map { $0 / max($1, 1e-9) }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return (median(singles), median(parallels), median(ratios), turns)
    }

    /// Round trips per second from `threads` clients, each on its own connection, for `seconds`.
    static func throughput(
        socket: String,
        seconds: Double,
        threads: Int,
        body: @escaping @Sendable (UnixHTTPClient, Int) -> Bool
    ) async -> Double {
        await onThread {
            let counts = Counter(threads)
            let clock = ContinuousClock()
            let start = clock.now
            inParallel(threads) { index in
                let client = UnixHTTPClient(socketPath: socket)
                var done = 0
                var tag = index * 1_000_000
                while (clock.now - start).nanoseconds < seconds * 1e9 {
                    if body(client, tag) { done += 1 }
                    tag += 1
                }
                counts.set(index, done)
            }
            let elapsed = (clock.now - start).nanoseconds / 1e9
            return Double(counts.total) / elapsed
        }
    }
}

/// Per-thread counts, written once by each thread.
final class Counter: @unchecked Sendable {
    // SAFETY: each thread writes only its own index, under the lock.
    private let lock = NSLock()
    private var values: [Int]

    init(_ count: Int) { values = Array(repeating: 0, count: count) }

    func set(_ index: Int, _ value: Int) { lock.withLock { values[index] = value } }

    var total: Int { lock.withLock { values.reduce(0, +) } }
}
