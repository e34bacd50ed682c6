// Linux only.
import CLinuxShims
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import Foundation
import Glibc

/// Device-ready rows: from the create request to memory that is mapped and populated, per GiB, for shm and hugetlb
/// devices, against first touch of anonymous 4 KiB memory and of hugetlb memory in the same run.
enum DeviceReadySection {
    static func run(quick: Bool, hugetlb: Bool, log: @escaping @Sendable (String) -> Void) async -> [Row] {
        let deviceBytes = quick ? 256 << 20 : 1 << 30
        let repetitions = quick ? 2 : 3
        let perGiB = Double(1 << 30) / Double(deviceBytes)
        var rows: [Row] = []

        log("device ready: baselines")
        var anonymous = Samples()
        for _ in 0..<repetitions {
            if let time = try? firstTouchAnonymous(bytes: deviceBytes) { anonymous.append(time * perGiB) }
        }
        let hugeFirstTouch: Result<Samples, BenchError> =
            hugetlb
            ? firstTouchHugetlb(bytes: deviceBytes, repetitions: repetitions).map {
                Samples($0.values.map { $0 * perGiB })
            } : .failure(BenchError("skipped (--no-hugetlb)"))
        let hugeText: String
        switch hugeFirstTouch {
        case .success(let samples): hugeText = "hugetlb 2M first touch \(formatDuration(samples.median))/GiB"
        case .failure(let error): hugeText = "hugetlb 2M first touch not measured (\(error))"
        }
        let baselineText = "anonymous 4K first touch \(formatDuration(anonymous.median))/GiB; " + hugeText

        let directory: TemporaryDirectory
        do { directory = try TemporaryDirectory(prefix: "daxpool-bench-ready") } catch {
            return [
                Row(
                    section: "ready", name: "device ready", daxpool: "not measured", verdict: "not measured",
                    note: "\(error)")
            ]
        }
        defer { directory.remove() }
        let shmRoot = "/dev/shm/daxpool-bench-ready-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: shmRoot) }

        // shm
        log("device ready: shm")
        do {
            let daemon = try await InProcessDaemon.start(
                socketPath: directory.path + "/shm.sock",
                backends: [ShmBackend(logger: quietLogger, keepsScrubbedFiles: false)],
                store: LabelStateStore(directory: directory.path + "/shm-state"), shmRoot: shmRoot)
            _ = try await daemon.service.createRegion(
                CreateRegionRequest(backend: .shm, size: ByteCount(UInt64(deviceBytes) * 2)))
            var samples = Samples()
            var creates = Samples()
            for _ in 0..<repetitions {
                let time = try await onThread {
                    readyTime(socket: daemon.socketPath, region: 0, bytes: deviceBytes, destroy: true)
                }.get()
                samples.append(time.total * perGiB)
                creates.append(time.create * perGiB)
            }
            await daemon.stop()
            rows.append(
                Row(
                    section: "ready",
                    name: "device ready per GiB, shm (4K pages), no pool (kernel zeroes at fallocate)",
                    daxpool:
                        "median \(formatDuration(samples.median))/GiB (create call \(formatDuration(creates.median)))",
                    baseline: baselineText,
                    ratio: formatRatio(samples.median / anonymous.median) + " of anonymous 4K",
                    target: "measured, not targeted",
                    verdict: "measured (no target)",
                    metrics: [
                        "median_ns_per_gib": samples.median, "create_ns_per_gib": creates.median,
                        "anonymous_ns_per_gib": anonymous.median,
                    ],
                    note: "Device-ready rows: `POST /v1/devices` of \(formatBytes(Double(deviceBytes))) through the "
                        + "in-process daemon, then open the device path, mmap it shared and populate it with "
                        + "MADV_POPULATE_WRITE; scaled to 1 GiB; median of \(repetitions). shm commits the file's 4K "
                        + "pages with fallocate and then faults them in one by one, like the anonymous baseline."
                )
            )
        } catch {
            rows.append(
                Row(
                    section: "ready", name: "device ready, shm", daxpool: "not measured", verdict: "not measured",
                    note: "\(error)"))
        }

        // hugetlb
        guard hugetlb else {
            rows.append(
                Row(
                    section: "ready", name: "device ready per GiB, hugetlb (2M pages)", daxpool: "not measured",
                    target: "≤ 5 ms/GiB", verdict: "not measured", note: "Skipped: --no-hugetlb."))
            return rows
        }
        log("device ready: hugetlb")
        rows += await hugetlbReady(
            directory: directory.path, deviceBytes: deviceBytes, repetitions: repetitions, perGiB: perGiB,
            baselineText: baselineText, hugeFirstTouch: (try? hugeFirstTouch.get())?.median ?? .nan)
        return rows
    }

    static func hugetlbReady(
        directory: String, deviceBytes: Int, repetitions: Int, perGiB: Double, baselineText: String,
        hugeFirstTouch: Double
    ) async -> [Row] {
        let name = "device ready per GiB, hugetlb (2M pages)"
        let daemon: InProcessDaemon
        do {
            daemon = try await InProcessDaemon.start(
                socketPath: directory + "/hugetlb.sock",
                backends: [HugetlbBackend(logger: quietLogger, scrubThreads: onlineProcessors())],
                store: LabelStateStore(directory: directory + "/hugetlb-state"), shmRoot: directory)
        } catch {
            return [notMeasured(name, error)]
        }
        var regionID: Int?
        var rows: [Row]
        do {
            let region = try await daemon.service.createRegion(
                CreateRegionRequest(
                    backend: .hugetlb, size: ByteCount(UInt64(deviceBytes)), path: directory + "/mnt/region",
                    pageSize: .page2M, hvo: "off"))
            regionID = region.id
            var cold = Samples()
            var coldCreate = Samples()
            var warm = Samples()
            var warmCreate = Samples()
            var destroys = Samples()
            for repetition in 0..<repetitions {
                // Cold: nothing pooled, the kernel allocates and zeroes the pages (fallocate).
                let first = try await onThread {
                    readyTime(socket: daemon.socketPath, region: region.id, bytes: deviceBytes, destroy: false)
                }.get()
                if repetition == 0 {
                    cold.append(first.total * perGiB)
                    coldCreate.append(first.create * perGiB)
                }
                // Destroy hands the file to the scrub service, which zeroes and pools it (timed here until it is
                // done); the next create of that size takes it ready.
                let clock = ContinuousClock()
                let destroyStart = clock.now
                try await destroyAll(daemon.service)
                destroys.append((clock.now - destroyStart).nanoseconds * perGiB)
                let second = try await onThread {
                    readyTime(socket: daemon.socketPath, region: region.id, bytes: deviceBytes, destroy: false)
                }.get()
                warm.append(second.total * perGiB)
                warmCreate.append(second.create * perGiB)
                try await destroyAll(daemon.service)
            }
            // Filled ahead: a new region whose pool names the device size. The background fill makes the file
            // (timed until it is ready), and the region's very first create takes it.
            try await daemon.service.destroyRegion(region.id)
            regionID = nil
            var ahead = Samples()
            var aheadCreate = Samples()
            var fills = Samples()
            for repetition in 0..<repetitions {
                let filled = try await daemon.service.createRegion(
                    CreateRegionRequest(
                        backend: .hugetlb, size: ByteCount(UInt64(deviceBytes)),
                        path: directory + "/mnt/filled\(repetition)", pageSize: .page2M,
                        pool: [ByteCount(UInt64(deviceBytes))], hvo: "off"))
                regionID = filled.id
                let clock = ContinuousClock()
                let fillStart = clock.now
                while try await daemon.service.region(filled.id).pool?.ready != [UInt64(deviceBytes)] {
                    guard clock.now - fillStart < .seconds(300) else { throw BenchError("the pool fill never ended") }
                    try await Task.sleep(for: .milliseconds(1))
                }
                fills.append((clock.now - fillStart).nanoseconds * perGiB)
                let first = try await onThread {
                    readyTime(socket: daemon.socketPath, region: filled.id, bytes: deviceBytes, destroy: false)
                }.get()
                ahead.append(first.total * perGiB)
                aheadCreate.append(first.create * perGiB)
                try await destroyAll(daemon.service)
                try await daemon.service.destroyRegion(filled.id)
                regionID = nil
            }
            rows = [
                Row(
                    section: "ready",
                    name: name + ", from the pool of scrubbed files",
                    daxpool:
                        "median \(formatDuration(warm.median))/GiB: create call \(formatDuration(warmCreate.median)), "
                        + "mmap + populate \(formatDuration(warm.median - warmCreate.median))",
                    baseline: baselineText,
                    ratio: formatRatio(warm.median / hugeFirstTouch) + " of hugetlb first touch",
                    target: "≤ 5 ms/GiB",
                    verdict: Verdict.atMost(warm.median, 5e6),
                    metrics: [
                        "median_ns_per_gib": warm.median, "create_ns_per_gib": warmCreate.median,
                        "map_populate_ns_per_gib": warm.median - warmCreate.median, "cold_ns_per_gib": cold.median,
                        "destroy_scrub_ns_per_gib": destroys.median, "hugetlb_first_touch_ns_per_gib": hugeFirstTouch,
                    ],
                    note: "hugetlb rows: a hugetlb region of 2M pages reserved and mounted by `HugetlbBackend` (root), "
                        + "then create → mmap → populate (MADV_POPULATE_WRITE) as for shm. \"Cold\" is the first "
                        + "create, whose fallocate has the kernel allocate and zero every page; destroy then scrubs the "
                        + "file (\(formatDuration(destroys.median))/GiB, off the create path) and keeps it, so the "
                        + "next create of that size takes it ready."
                ),
                Row(
                    section: "ready",
                    name: name + ", first create of a size the region's pool names (filled ahead)",
                    daxpool:
                        "median \(formatDuration(ahead.median))/GiB: create call \(formatDuration(aheadCreate.median)), "
                        + "mmap + populate \(formatDuration(ahead.median - aheadCreate.median))",
                    baseline: baselineText,
                    ratio: formatRatio(ahead.median / hugeFirstTouch) + " of hugetlb first touch",
                    target: "≤ 5 ms/GiB",
                    verdict: Verdict.atMost(ahead.median, 5e6),
                    metrics: [
                        "median_ns_per_gib": ahead.median, "create_ns_per_gib": aheadCreate.median,
                        "fill_ns_per_gib": fills.median,
                    ],
                    note: "Filled ahead: each repetition creates a new hugetlb region with `pool` naming the device "
                        + "size; the background fill allocates the file (the kernel zeroes it, "
                        + "\(formatDuration(fills.median))/GiB, off the request path) and the region's first create "
                        + "takes it. This is the first create of that size, which without a pool takes the cold path."
                ),
                Row(
                    section: "ready",
                    name: name + ", cold (kernel zeroes at fallocate)",
                    daxpool: "\(formatDuration(cold.median))/GiB (create call \(formatDuration(coldCreate.median)))",
                    baseline: baselineText,
                    ratio: formatRatio(cold.median / hugeFirstTouch) + " of hugetlb first touch",
                    target: "≤ 5 ms/GiB",
                    verdict: Verdict.atMost(cold.median, 5e6),
                    metrics: ["ns_per_gib": cold.median, "create_ns_per_gib": coldCreate.median]
                ),
            ]
        } catch {
            rows = [notMeasured(name, error)]
        }
        try? await destroyAll(daemon.service)
        if let regionID { try? await daemon.service.destroyRegion(regionID) }
        await daemon.stop()
        return rows
    }

    /// Destroys every device and waits until the background scrub service has zeroed (and pooled) their memory.
    static func destroyAll(_ service: PoolService) async throws {
        for device in await service.devices() { try await service.destroyDevice(device.chardev, force: true) }
        while await !service.pendingScrubs.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
    }

    static func notMeasured(_ name: String, _ error: any Error) -> Row {
        Row(
            section: "ready", name: name, daxpool: "not measured", target: "≤ 5 ms/GiB", verdict: "not measured",
            note: "hugetlb: \(error)")
    }

    struct Ready: Sendable {
        /// From the create request to mapped and populated memory.
        var total: Double
        /// The create call alone (API, model, backend, durable commit).
        var create: Double
    }

    /// create → open → mmap shared → populate; optionally destroy afterwards (untimed).
    static func readyTime(socket: String, region: Int, bytes: Int, destroy: Bool) -> Result<Ready, BenchError> {
        let client = DaxPoolClient(socketPath: socket)
        let clock = ContinuousClock()
        let start = clock.now
        let device: DeviceInfo
        do {
            device = try client.createDevice(CreateDeviceRequest(region: region, size: ByteCount(UInt64(bytes))))
        } catch { return .failure(BenchError("create: \(error.message)")) }
        let created = (clock.now - start).nanoseconds
        guard let path = device.path else { return .failure(BenchError("device \(device.chardev) has no path")) }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.errno("open \(path)")) }
        defer { close(fd) }
        let mapping: Mapping
        do {
            mapping = try Mapping.shared(fd, length: bytes)
            try mapping.advise(populateWriteAdvice)
        } catch { return .failure(BenchError("\(error)")) }
        let total = (clock.now - start).nanoseconds
        mapping.unmap()
        if destroy { try? client.destroyDevice(device.chardev, force: true) }
        return .success(Ready(total: total, create: created))
    }

    /// mmap anonymous memory and write one byte per 4 KiB page.
    static func firstTouchAnonymous(bytes: Int) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let mapping = try Mapping.anonymous(bytes)
        mapping.touch(stride: 4096)
        let elapsed = (clock.now - start).nanoseconds
        mapping.unmap()
        return elapsed
    }

    /// A memfd of 2M huge pages: mmap and write one byte per page. Adds the pages it needs to the kernel's pool
    /// and gives them back.
    static func firstTouchHugetlb(bytes: Int, repetitions: Int) -> Result<Samples, BenchError> {
        let pool = HugePagePool(pageKilobytes: 2048)
        let pages = bytes / (2 << 20)
        guard let before = pool.total else { return .failure(BenchError("no 2M huge page pool")) }
        guard pool.setTotal(before + pages) else {
            _ = pool.setTotal(before)
            return .failure(BenchError("could not add \(pages) pages of 2M to the pool (not root, or no memory)"))
        }
        defer { _ = pool.setTotal(before) }
        var samples = Samples()
        for _ in 0..<repetitions {
            let fd = cshim_memfd_create("daxpool-bench", cshim_MFD_HUGETLB | (21 << 26) | cshim_MFD_CLOEXEC)
            guard fd >= 0 else { return .failure(.errno("memfd_create MFD_HUGETLB")) }
            defer { close(fd) }
            guard ftruncate(fd, off_t(bytes)) == 0 else { return .failure(.errno("ftruncate hugetlb memfd")) }
            let clock = ContinuousClock()
            let start = clock.now
            guard let mapping = try? Mapping.shared(fd, length: bytes) else { return .failure(.errno("mmap hugetlb")) }
            mapping.touch(stride: 2 << 20)
            samples.append(clock.now - start)
            mapping.unmap()
        }
        return .success(samples)
    }
}
