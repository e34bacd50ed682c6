import DaxPoolAPI
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import DaxPoolTestSupport
import Foundation
import Glibc

/// State rows: commit latency of the state stores against one 4 KiB write + fsync, and a daemon restart with
/// 10,000 devices.
enum StateSection {
    static func run(quick: Bool, log: @escaping @Sendable (String) -> Void) async -> [Row] {
        var rows: [Row] = []
        let directory: TemporaryDirectory
        do { directory = try TemporaryDirectory(prefix: "daxpool-bench-state") } catch {
            return [
                Row(section: "state", name: "state", daxpool: "not measured", verdict: "not measured", note: "\(error)")
            ]
        }
        defer { directory.remove() }
        let iterations = quick ? 100 : 500

        log("state: commit latency")
        let stores: [(String, any StateStore)] = [
            (
                "JSONFileStateStore (state.json: write, fsync, rename, fsync dir)",
                JSONFileStateStore(directory: directory.path + "/json")
            ),
            ("LabelStateStore (label area + sidecar)", LabelStateStore(directory: directory.path + "/labels")),
            (
                "LedgerStateStore as the daemon commits (one journal record; labels written after, off the commit path)",
                JournalCommitPath(LedgerStateStore(directory: directory.path + "/ledger-store"))
            ),
        ]
        for (index, (label, store)) in stores.enumerated() {
            let path = directory.path + "/baseline\(index)"
            let result = await onThread { () -> Result<(Samples, Samples), BenchError> in
                commitLatency(store: store, baselinePath: path, devices: 16, iterations: iterations)
            }
            switch result {
            case .success(let (commits, baseline)):
                rows.append(
                    Row(
                        section: "state",
                        name: "state commit, one device added or removed: \(label)",
                        daxpool: formatPercentiles(commits),
                        baseline: "4 KiB pwrite + fsync: " + formatPercentiles(baseline),
                        ratio: formatRatio(commits.median / baseline.median) + " (p50)",
                        target: "≤ 2× the baseline",
                        verdict: Verdict.atMost(commits.median / baseline.median, 2),
                        metrics: [
                            "p50_ns": commits.median, "p99_ns": commits.p99, "baseline_p50_ns": baseline.median,
                            "baseline_p99_ns": baseline.p99,
                        ],
                        note: index == 0
                            ? "Commit rows: a region with 16 devices; each iteration commits the state with a 17th "
                                + "device added, then without it, alternating with the baseline (pwrite of 4 KiB over "
                                + "the same block of a file in the same file system, then fsync), so both see the same "
                                + "disk and load. The verdict compares medians."
                            : ""
                    )
                )
            case .failure(let error):
                rows.append(
                    Row(
                        section: "state", name: "state commit: \(label)", daxpool: "not measured",
                        verdict: "not measured", note: "\(error)"))
            }
        }

        log("state: ledger append latency")
        rows.append(await ledgerAppend(directory: directory.path, iterations: iterations))

        log("state: restart with 10,000 devices")
        rows += await restart(directory: directory.path, devices: 10_000, repetitions: quick ? 3 : 7)
        return rows
    }

    /// One `Ledger.append` of a change record (about 200 bytes of JSON: two copies, one fdatasync) at the end of a
    /// growing ledger, alternating with the commit rows' baseline (pwrite of 4 KiB over one block, then fsync).
    static func ledgerAppend(directory: String, iterations: Int) async -> Row {
        let name = "state commit: Ledger append (one change record, two copies, one fdatasync)"
        let result = await onThread { () -> Result<(Samples, Samples), BenchError> in
            let probe: FsyncProbe
            do throws(BenchError) { probe = try FsyncProbe(path: directory + "/baseline-ledger") } catch {
                return .failure(error)
            }
            let ledger: Ledger
            do { ledger = try Ledger.open(path: directory + "/ledger", create: true).0 } catch {
                return .failure(BenchError("open the ledger: \(error)"))
            }
            let change = Array(
                (#"{"change":"device_created","device":{"region":0,"instance":16,"uuid":"5f2b6c1e-8d4a-4e3b-9a7c-"#
                    + #"2b1d0e9f8a76","size":2097152,"align":2097152,"state":"enabled","extents":[{"start":"#
                    + #"33554432,"length":2097152}]}}"#).utf8)
            var appends = Samples()
            var baseline = Samples()
            let clock = ContinuousClock()
            for iteration in 0..<iterations {
                let start = clock.now
                do { _ = try ledger.append(change) } catch { return .failure(BenchError("append: \(error)")) }
                appends.append(clock.now - start)
                baseline.append(probe.measure(iteration))
            }
            return .success((appends, baseline))
        }
        switch result {
        case .success(let (appends, baseline)):
            return Row(
                section: "state", name: name, daxpool: formatPercentiles(appends),
                baseline: "4 KiB pwrite + fsync: " + formatPercentiles(baseline),
                ratio: formatRatio(appends.median / baseline.median) + " (p50)", target: "≤ 2× the baseline",
                verdict: Verdict.atMost(appends.median / baseline.median, 2),
                metrics: [
                    "p50_ns": appends.median, "p99_ns": appends.p99, "baseline_p50_ns": baseline.median,
                    "baseline_p99_ns": baseline.p99,
                ],
                note: "")
        case .failure(let error):
            return Row(section: "state", name: name, daxpool: "not measured", verdict: "not measured", note: "\(error)")
        }
    }

    /// The pool used by the state rows: one sim region of `devices` 2 MiB devices, one range each.
    static func snapshot(devices: Int, region: Int = 0) -> PoolSnapshot {
        var model = PoolModel()
        let size = ByteCount(UInt64(devices + 16) << 21)
        try? model.addRegion(
            RegionConfig(
                id: region, backend: .sim, size: size, align: .page1G, pageSize: .page4K, path: "sim:region\(region)"))
        var generator = SplitMix64(state: 7)
        for _ in 0..<devices {
            _ = try? model.createDevice(
                region: region, size: .mebibytes(2), align: .page2M, name: nil,
                uuid: LabelUUID.random(using: &generator), owner: getuid())
        }
        return model.snapshot
    }

    static func commitLatency(store: any StateStore, baselinePath: String, devices: Int, iterations: Int) -> Result<
        (Samples, Samples), BenchError
    > {
        let base = snapshot(devices: devices)
        let grown = snapshot(devices: devices + 1)
        let probe: FsyncProbe
        do throws(BenchError) { probe = try FsyncProbe(path: baselinePath) } catch { return .failure(error) }
        do { try store.commit(base) } catch { return .failure(BenchError("first commit: \(error)")) }
        var commits = Samples()
        var baseline = Samples()
        let clock = ContinuousClock()
        for iteration in 0..<iterations {
            let start = clock.now
            do { try store.commit(iteration % 2 == 0 ? grown : base) } catch {
                return .failure(BenchError("commit: \(error)"))
            }
            commits.append(clock.now - start)
            baseline.append(probe.measure(iteration))
        }
        return .success((commits, baseline))
    }

    /// Writes a state of `devices` devices with each store that can hold it, then times `PoolService.init` from it.
    static func restart(directory: String, devices: Int, repetitions: Int) async -> [Row] {
        let state = snapshot(devices: devices)
        var rows: [Row] = []
        let stores: [(String, any StateStore, String)] = [
            (
                "JSONFileStateStore", JSONFileStateStore(directory: directory + "/restart-json"),
                directory + "/restart-json/state.json"
            ),
            (
                "LabelStateStore (8 MiB label area)",
                LabelStateStore(directory: directory + "/restart-labels", areaSize: 8 << 20),
                directory + "/restart-json/state.json"
            ),
            (
                "LedgerStateStore (one journal record per device created, replayed from the last checkpoint)",
                LedgerStateStore(directory: directory + "/restart-ledger", areaSize: 8 << 20),
                directory + "/restart-json/state.json"
            ),
        ]
        for (index, (label, store, jsonPath)) in stores.enumerated() {
            do {
                try await onThread { () -> Result<Void, BenchError> in
                    do {
                        if let ledger = store as? LedgerStateStore {
                            // The journal as a daemon leaves it: a checkpoint, then one record per device created
                            // since (below the compaction threshold, so a start replays them all).
                            let replayed = min(devices, LedgerStateStore.compactAfterChanges - 96)
                            var model = PoolModel()
                            try model.addRegion(
                                RegionConfig(
                                    id: 0, backend: .sim, size: ByteCount(UInt64(devices + 16) << 21), align: .page1G,
                                    pageSize: .page4K, path: "sim:region0"))
                            var generator = SplitMix64(state: 7)
                            var ticket: UInt64 = 0
                            for count in 0..<devices {
                                _ = try model.createDevice(
                                    region: 0, size: .mebibytes(2), align: .page2M, name: nil,
                                    uuid: LabelUUID.random(using: &generator), owner: getuid())
                                if count >= devices - replayed || count == devices - replayed - 1 {
                                    ticket = try ledger.enqueue(model.snapshot)
                                }
                                if count % 256 == 0 { try ledger.waitDurable(ticket) }
                            }
                            try ledger.waitDurable(ticket)
                            ledger.flushLabels()
                        } else {
                            try store.commit(state)
                        }
                    } catch { return .failure(BenchError("\(error)")) }
                    return .success(())
                }.get()
            } catch {
                rows.append(
                    Row(
                        section: "state", name: "daemon restart, \(devices) devices, \(label)", daxpool: "not measured",
                        verdict: "not measured", note: "writing the state failed: \(error)"))
                continue
            }
            var restarts = Samples()
            var decodes = Samples()
            for _ in 0..<repetitions {
                let clock = ContinuousClock()
                let start = clock.now
                do {
                    let service = try await PoolService(
                        backends: [SimBackend()], store: store,
                        settings: PoolSettings(defaultRegionSize: nil, shmRoot: directory, hugetlbRoot: directory),
                        logger: quietLogger)
                    restarts.append(clock.now - start)
                    let count = await service.devices().count
                    if count != devices { log("restart: expected \(devices) devices, found \(count)") }
                } catch {
                    rows.append(
                        Row(
                            section: "state", name: "daemon restart, \(devices) devices, \(label)",
                            daxpool: "not measured", verdict: "not measured", note: "\(error)"))
                    break
                }
                // Baseline: read and decode the JSON state file alone (the JSON store's format).
                let decodeStart = clock.now
                if let data = FileManager.default.contents(atPath: jsonPath),
                    let decoded = try? JSONDecoder().decode(PoolSnapshot.self, from: data)
                {
                    blackHole(decoded.regions.count)
                    decodes.append(clock.now - decodeStart)
                }
            }
            guard restarts.count > 0 else { continue }
            rows.append(
                Row(
                    section: "state",
                    name: "daemon restart, \(devices) devices (sim region), \(label)",
                    daxpool: "median \(formatDuration(restarts.median)) (min \(formatDuration(restarts.minimum)))",
                    baseline: "read + JSONDecoder of state.json alone: median \(formatDuration(decodes.median))",
                    ratio: formatRatio(restarts.median / decodes.median),
                    target: "≤ 200 ms",
                    verdict: Verdict.atMost(restarts.median, 200e6),
                    metrics: [
                        "median_ns": restarts.median, "min_ns": restarts.minimum, "baseline_median_ns": decodes.median,
                    ],
                    note: index == 0
                        ? "Restart rows: the time of `PoolService.init` (load the store, rebuild and check the model, "
                            + "reconcile the sim backend) for a state of \(devices) devices of 2 MiB written "
                            + "beforehand, each owned (as every device created through the API is); median of \(repetitions). The baseline is the floor of the JSON format: "
                            + "reading state.json and decoding it, without building anything."
                        : ""
                )
            )
        }
        return rows
    }

    static func log(_ text: String) { FileHandle.standardError.write(Data(("  " + text + "\n").utf8)) }
}

/// A `LedgerStateStore` committed the way `PoolService` commits: the journal record queued and waited for, the labels
/// left to the store's label writer.
struct JournalCommitPath: StateStore {
    let store: LedgerStateStore

    init(_ store: LedgerStateStore) { self.store = store }

    func load() throws -> PoolSnapshot? { try store.load() }

    func commit(_ snapshot: PoolSnapshot) throws {
        try store.waitDurable(try store.enqueue(snapshot))
    }
}
