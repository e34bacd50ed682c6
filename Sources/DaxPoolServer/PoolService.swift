import DaxPoolAPI
import DaxPoolCore
import Dispatch
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The daemon's state: the pool model, the backends and the store. Every change is validated by the
/// model, carried out by the backend, persisted by the store, and only then made visible; a failure at
/// any step undoes the steps before it, so state and files stay exactly as they were.
///
/// Every operation takes the `Caller` it acts for and checks it against `policy` before anything else; the
/// HTTP routes always pass the caller the socket's peer credentials name. The default, `Caller.daemon`, is the
/// daemon acting on its own behalf (start-up, memory errors the kernel reports, tests and benchmarks).
public actor PoolService {
    var model: PoolModel
    let backends: [BackendKind: any MemoryBackend]
    let store: any StateStore
    private let settings: PoolSettings
    let logger: Logger
    /// Where live-update records are kept; `nil`: this daemon cannot prepare a live update.
    let liveUpdate: LiveUpdateState?
    private let labelAreas: @Sendable (Int) -> LabelAreaInfo?
    /// Who may do what.
    public nonisolated let policy: AccessPolicy
    /// Watches lease holders; `nil`: this daemon cannot take leases.
    private let watcher: (any ProcessWatcher)?
    var generator = SystemRandomNumberGenerator()
    /// Lending memory to the host: the `--lend-idle` policy and the devices being lent or reclaimed.
    var lending = LendingState()
    /// The excess each device's memory was last reported with (`reportExcess`), by device uuid.
    private var reportedExcess: [LabelUUID: UInt64] = [:]
    private var subscribers: [Int: AsyncStream<MemoryErrorEvent>.Continuation] = [:]
    private var nextSubscriber = 0
    /// Progress of scrubs and prefaults, for `/v1/progress`.
    public nonisolated let progress = ProgressHub()
    /// Destroyed devices' memory to zero and pools to fill, for the `ScrubService` (which does both off this actor).
    nonisolated let scrubJobs: AsyncStream<BackgroundJob>
    private let scrubContinuation: AsyncStream<BackgroundJob>.Continuation
    /// Scrubs queued for the `ScrubService` and not yet started.
    nonisolated let queuedScrubs = QueuedScrubs()
    /// Regions with a pool fill queued and not yet started: a region is queued at most once.
    private var queuedFills: Set<Int> = []
    /// Paths of regions whose backend is being created off the actor (`createRegion`): a second create of the same
    /// path is refused meanwhile.
    private var creatingRegionPaths: Set<String> = []
    /// Creates waiting for a scrub to free memory (`createDevice`), resumed when a scrub finishes.
    private var scrubWaiters: [CheckedContinuation<Void, Never>] = []

    /// Loads the persisted state, brings every backend in line with it, and creates the embedded default
    /// region when there is none.
    public init(
        backends: [any MemoryBackend],
        store: any StateStore,
        settings: PoolSettings,
        logger: Logger,
        labelAreas: @escaping @Sendable (Int) -> LabelAreaInfo? = { _ in nil },
        policy: AccessPolicy = AccessPolicy(),
        watcher: (any ProcessWatcher)? = nil,
        liveUpdate: LiveUpdateState? = nil
    ) async throws {
        self.liveUpdate = liveUpdate
        self.backends = Dictionary(backends.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.store = store
        self.settings = settings
        self.logger = logger
        self.labelAreas = labelAreas
        self.policy = policy
        self.watcher = watcher
        (scrubJobs, scrubContinuation) = AsyncStream<BackgroundJob>.makeStream()
        // After a kexec: the layouts in the regions' memory, read (never written) before anything is reconciled.
        let restore = try LiveUpdateRestore.begin(liveUpdate, backends: self.backends, logger: logger)
        let stored = try store.load()
        if let snapshot = stored {
            model = try PoolModel(snapshot: snapshot)
        } else if let snapshot = restore?.statelessSnapshot {
            model = try PoolModel(snapshot: snapshot)
        } else {
            model = PoolModel()
        }
        try restore?.check(model.snapshot, hadState: stored != nil)
        let findings = store.takeFindings()
        let loaded = stored == nil && restore?.statelessSnapshot != nil ? PoolModel() : model
        model.assignOwnerToUnownedDevices(policy.daemonUID)
        for finding in findings { record(finding) }
        for id in model.regionIDs {
            guard let region = model.regions[id] else { continue }
            let backend = try backendFor(region.config.backend)
            let report = try backend.reconcile(
                region.config,
                devices: region.sortedDevices.map { ($0, region.allocator.ranges(of: $0.id.instance)) },
                pendingScrubs: region.pendingScrubs,
                mode: region.degraded == nil ? .normal : .keep
            )
            for lost in report.lostAndFound {
                record(
                    StoreFinding(
                        .kept, region: id,
                        "\(lost.name) (\(lost.size.rawValue) bytes) was in the region but no device owned it: moved "
                            + "untouched to the region's lost+found"),
                    source: "lost+found")
            }
            if !report.doubts.isEmpty {
                model.markDegraded(id, reasons: report.doubts)
                record(StoreFinding(.degraded, region: id, report.doubts.joined(separator: "; ")))
            }
            guard model.regions[id]?.degraded == nil else { continue }
            for device in region.sortedDevices {
                try backend.setDeviceOwner(device.id, uid: device.owner ?? policy.daemonUID, in: region.config)
            }
        }
        // Memory that was waiting to be zeroed when the daemon stopped stays out of free space until the scrub
        // service has zeroed it (or found that reconcile gave it back to the kernel). A region in doubt keeps it.
        for (region, scrub) in model.pendingScrubs where model.regions[region.id]?.degraded == nil {
            let backend = try backendFor(region.backend)
            queuedScrubs.added()
            scrubContinuation.yield(.scrub(ScrubJob(region: region, scrub: scrub, backend: backend)))
        }
        if var restore {
            restore.fromMemory = stored == nil
            finishLiveUpdate(restore)
        }
        for id in model.regionIDs { queueFill(id) }
        revalidateLeases()
        if model != loaded { try store.commit(model.snapshot) }
        let keepsState = findings.contains { $0.kind == .kept }
        if model.regions.isEmpty, !keepsState, let defaultSize = settings.defaultRegionSize, defaultSize.rawValue > 0,
            !skipsDefaultRegionForKernelRegions()
        {
            let region = try await createRegion(
                CreateRegionRequest(backend: .shm, size: SizeValue(bytes: defaultSize.rawValue)))
            logger.info(
                "created the embedded default region", metadata: ["region": "\(region.id)", "path": "\(region.path)"])
        }
    }

    /// Makes `next` the model at once (so the requests that follow build on it) and waits, off this actor, until its
    /// journal record is durable; commits queued meanwhile share the write and the sync. If the journal fails, the
    /// change is undone in the model when nothing was built on it since, and the store takes no more changes.
    func persist(_ next: PoolModel) async throws {
        let before = model
        let ticket = try store.enqueue(next.snapshot)
        model = next
        let store = self.store
        do {
            if try await !store.durable(ticket) {
                try await Self.offActor { try store.waitDurable(ticket) }
            }
        } catch {
            if model == next { model = before }
            logger.critical(
                "the state journal failed: the daemon takes no more changes until it is restarted",
                metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Runs `work` (blocking I/O) on a thread outside the cooperative pool and returns when it has.
    static func offActor<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            DispatchQueue.global().async {
                do {
                    continuation.resume(returning: try work())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Logs what the store or a backend found in the persisted state at start, and raises an event for it (source
    /// `repair`, `degraded`, `lost+found` or `kept`), so that an administrator reading events learns of it.
    private func record(_ finding: StoreFinding, source: String? = nil) {
        let metadata: Logger.Metadata = ["region": "\(finding.region.map(String.init) ?? "-")"]
        switch finding.kind {
        case .repaired: logger.notice("repaired the persisted state: \(finding.detail)", metadata: metadata)
        case .degraded:
            logger.error(
                "the region's state is in doubt; it is degraded and nothing is created or destroyed in it: \(finding.detail)",
                metadata: metadata)
        case .kept: logger.warning("kept state the daemon cannot account for: \(finding.detail)", metadata: metadata)
        }
        let event = model.recordStateEvent(
            region: finding.region ?? -1, source: source ?? finding.kind.rawValue, detail: finding.detail,
            time: Self.now())
        for continuation in subscribers.values { continuation.yield(event) }
    }

    // MARK: - Queries

    /// Every region; a caller who is not an administrator sees only its own devices in them.
    public func regions(includeDevices: Bool = true, by caller: Caller = .daemon) -> [RegionInfo] {
        reportExcess()
        return model.regionIDs.compactMap { id in
            model.regions[id].map { info(for: $0, includeDevices: includeDevices, visibleTo: caller) }
        }
    }

    /// Region `id` with the devices `caller` may see.
    /// - Throws: `PoolError.unknownRegion` when there is no such region.
    public func region(_ id: Int, by caller: Caller = .daemon) throws -> RegionInfo {
        info(for: try model.region(id), includeDevices: true, visibleTo: caller)
    }

    /// Every device an administrator asks for; for anyone else, the devices it owns.
    public func devices(by caller: Caller = .daemon) -> [DeviceInfo] {
        reportExcess()
        return model.regionIDs.flatMap { id -> [DeviceInfo] in
            guard let region = model.regions[id] else { return [] }
            return region.settledDevices.filter { isVisible($0, to: caller) }.map { info(for: $0, in: region) }
        }
    }

    /// The device named by `name` (`daxR.N` or its name).
    /// - Throws: `PoolError.unknownDevice`, or `AccessDenied` when `caller` neither owns it nor administers.
    public func device(_ name: String, by caller: Caller = .daemon) throws -> DeviceInfo {
        let record = try authorizedDevice(name, caller, to: "read")
        return try info(for: record, in: model.region(record.id.region))
    }

    /// Tells the owners (an event with source `excess`, and a warning) of devices whose memory grew past their size
    /// since it was last reported: a file backend's device file its owner grew with `ftruncate` or `fallocate`.
    /// `list` shows the same as `excess_size`, and the destroy cuts the file back.
    func reportExcess(of only: DeviceID? = nil) {
        for id in model.regionIDs {
            guard let region = model.regions[id], let backend = backends[region.config.backend] else { continue }
            for record in region.settledDevices where only == nil || only == record.id {
                let size = region.allocator.size(of: record.id.instance).rawValue
                let held = backend.memoryHeld(by: record.id, in: region.config)?.rawValue ?? 0
                let excess = held > size ? held - size : 0
                guard excess > reportedExcess[record.uuid] ?? 0 else {
                    if excess == 0 { reportedExcess[record.uuid] = nil }
                    continue
                }
                var next = model
                guard let event = try? next.recordExcess(of: record.id, excess: ByteCount(excess), time: Self.now()),
                    let ticket = try? store.enqueue(next.snapshot)
                else { continue }
                model = next
                // Durable with the next commit's write, or this one's.
                let store = self.store
                Task { try? await Self.offActor { try store.waitDurable(ticket) } }
                reportedExcess[record.uuid] = excess
                logger.warning(
                    "a device's memory grew past its size: its owner grew the file; it is cut back on destroy",
                    metadata: ["device": "\(record.id)", "size": "\(size)", "excess": "\(excess)"])
                for continuation in subscribers.values { continuation.yield(event) }
            }
        }
    }

    /// Refuses a caller who is not an administrator (for routes outside the service, such as events).
    public nonisolated func requireAdministrator(_ caller: Caller, to action: String) throws {
        try policy.requireAdministrator(caller, to: action)
    }

    /// The current model, for tests and the label tools.
    public var snapshot: PoolSnapshot { model.snapshot }

    // MARK: - Regions

    /// Checks `request`, has the backend prepare the region (off the actor where that is slow), persists it and
    /// returns it. Administrators only.
    /// - Throws: `AccessDenied`, `PoolError` for a request the pool refuses, `BackendRefusal` for one the host cannot
    ///   take, or the backend's or store's error (then nothing of the region stays).
    public func createRegion(_ request: CreateRegionRequest, by caller: Caller = .daemon) async throws -> RegionInfo {
        try policy.requireAdministrator(caller, to: "create regions")
        let backend = try backendFor(request.backend)
        guard let sizeValue = request.size ?? (request.backend == .devdax ? SizeValue(bytes: 0) : nil) else {
            throw PoolError.invalidRequest("size is required for a \(request.backend) region")
        }
        let size = try parseSize(sizeValue, field: "size")
        let hvo = try request.hvo.map { text throws(PoolError) in try VmemmapOptimizationChoice(parsing: text) }
        if hvo != nil, request.backend != .hugetlb {
            throw PoolError.invalidRequest("hvo is only for hugetlb regions: omit it for a \(request.backend) region")
        }
        if let daxRegion = request.daxRegion {
            guard request.backend == .devdax else {
                throw PoolError.invalidRequest("dax_region is only for devdax regions")
            }
            guard daxRegion >= 0, daxRegion < 1 << 20 else {
                throw PoolError.invalidRequest("dax_region \(daxRegion) is not a region id")
            }
            guard model.regions[daxRegion] == nil, !model.retiringRegions.contains(daxRegion) else {
                throw PoolError.regionExists(daxRegion)
            }
        }
        // A new shm, hugetlb or sim region never takes a kernel region's id (devdax adopts that one under it).
        let id = request.daxRegion ?? (request.backend == .devdax ? model.nextRegionID : freeRegionID())
        let pageSize: Alignment
        if let text = request.pageSize {
            do { pageSize = try Alignment(parsing: text) } catch { throw PoolError.invalidRequest(error.description) }
        } else {
            pageSize = request.backend == .hugetlb ? .page2M : .page4K
        }
        if let node = request.node, node < 0 || node > 4095 {
            throw PoolError.invalidRequest("node \(node) is not a NUMA node number")
        }
        let path: String
        if let requested = request.path {
            try PathRules.check(requested)
            path = requested
        } else {
            path = settings.defaultPath(for: request.backend, region: id)
        }
        let pool = try parsePool(request.pool ?? [], backend: request.backend)
        var wanted = RegionConfig(
            id: id,
            backend: request.backend,
            size: size,
            align: .page1G,
            pageSize: pageSize,
            targetNode: request.node,
            path: path
        )
        wanted.pool = pool
        if request.backend != .devdax, let problem = wanted.poolProblem() {
            throw PoolError.invalidRequest(problem)
        }
        if request.backend != .devdax {
            var next = model
            try next.addRegion(wanted)
        }
        guard !creatingRegionPaths.contains(path) else {
            throw PoolError.invalidRequest("a region at \(path) is being created: wait for it, or give another path")
        }
        let config: RegionConfig
        if request.backend == .devdax {
            config = try backend.createRegion(wanted)
        } else {
            // Mounting and reserving huge pages can take long: off this actor, with the id and the path taken.
            model.retire(region: id, instance: nil)
            creatingRegionPaths.insert(path)
            defer { creatingRegionPaths.remove(path) }
            do {
                let request = wanted
                config = try await Self.offActor {
                    // hugetlb settles HugeTLB Vmemmap Optimization (refuse, turn on, accept) before reserving pages.
                    guard let optimizing = backend as? any VmemmapOptimizingBackend else {
                        return try backend.createRegion(request)
                    }
                    return try optimizing.createRegion(request, vmemmapOptimization: hvo)
                }
            } catch {
                model.retire(region: id, instance: nil, done: true)
                throw error
            }
            model.retire(region: id, instance: nil, done: true)
        }
        var final = model
        do {
            try final.addRegion(config)
        } catch {
            try? backend.destroyRegion(config)
            throw error
        }
        do {
            try await persist(final)
        } catch {
            try? backend.destroyRegion(config)
            throw error
        }
        queueFill(id)
        logger.info("created region", metadata: ["region": "\(id)", "backend": "\(config.backend)"])
        return info(for: try model.region(id), includeDevices: true, visibleTo: caller)
    }

    /// Removes region `id` from the persisted state, then has the backend release it (a backend failure is only
    /// logged). Administrators only.
    /// - Throws: `AccessDenied`, `PoolError` when the region is unknown, in doubt, not empty, has memory waiting to
    ///   be zeroed or holds lost files, or the store's error.
    public func destroyRegion(_ id: Int, by caller: Caller = .daemon) async throws {
        try policy.requireAdministrator(caller, to: "destroy regions")
        let region = try model.region(id)
        let lost = backends[region.config.backend]?.lostFiles(in: region.config) ?? []
        guard lost.isEmpty else {
            throw PoolError.regionHoldsLostFiles(id, names: lost.map(\.name))
        }
        var next = model
        try next.removeRegion(id)
        next.retire(region: id, instance: nil)
        try await persist(next)
        defer { model.retire(region: id, instance: nil, done: true) }
        do {
            try backendFor(region.config.backend).destroyRegion(region.config)
        } catch {
            logger.warning("region \(id) is gone from the state but its backend did not clean up: \(error)")
        }
    }

    /// Shows how degraded regions (or region `request.region`) would be rebuilt from what survives (`RecoveryPlan`:
    /// the journal, the labels, the memory the backend holds) and, with `apply`, commits the rebuild after checking
    /// it as a whole; the region is then sound again, its labels rewritten (the old ones kept as
    /// `region<R>.labels.before-recover`), and memory no device owns goes to its lost+found.
    public func recover(_ request: RecoverRequest, by caller: Caller = .daemon) async throws -> RecoverResponse {
        try policy.requireAdministrator(caller, to: "recover regions")
        let ids: [Int]
        if let id = request.region {
            _ = try model.region(id)
            ids = [id]
        } else {
            ids = model.regionIDs.filter { model.regions[$0]?.degraded != nil }
        }
        var plans: [(Int, [String], RecoveryPlan)] = []
        var rebuilt = model.snapshot
        for id in ids {
            guard let index = rebuilt.regions.firstIndex(where: { $0.config.id == id }) else { continue }
            let journal = rebuilt.regions[index]
            let backend = try backendFor(journal.config.backend)
            let plan = RecoveryPlan(
                journal: journal, labels: store.secondCopy(region: id),
                held: (backend as? any MemoryInventory)?.heldMemory(in: journal.config) ?? [])
            plans.append((id, journal.degraded?.reasons ?? [], plan))
            rebuilt.regions[index] = plan.region
        }
        let apply = request.apply ?? false
        var next = model
        if apply, !plans.isEmpty {
            do {
                next = try PoolModel(snapshot: rebuilt)
            } catch {
                throw PoolError.invalidRequest("the rebuild does not hold together (\(error)); nothing was changed")
            }
            try store.check(next.snapshot)
            for (id, _, _) in plans { store.preserveSecondCopy(region: id) }
            try await persist(next)
            for (id, _, plan) in plans {
                guard let region = model.regions[id], let backend = backends[region.config.backend] else { continue }
                record(
                    StoreFinding(
                        .repaired, region: id,
                        "recovered: " + plan.decisions.map { "\($0.subject) \($0.action)" }.joined(separator: ", ")))
                do {
                    let report = try backend.reconcile(
                        region.config,
                        devices: region.sortedDevices.map { ($0, region.allocator.ranges(of: $0.id.instance)) },
                        pendingScrubs: region.pendingScrubs, mode: .normal)
                    for lost in report.lostAndFound {
                        record(
                            StoreFinding(
                                .kept, region: id,
                                "\(lost.name) (\(lost.size.rawValue) bytes) moved untouched to the region's lost+found"),
                            source: "lost+found")
                    }
                    for device in region.sortedDevices {
                        try backend.setDeviceOwner(device.id, uid: device.owner ?? policy.daemonUID, in: region.config)
                    }
                } catch {
                    logger.error("the recovered region's memory could not be brought in line: \(error)")
                }
                for scrub in region.pendingScrubs {
                    queuedScrubs.added()
                    scrubContinuation.yield(.scrub(ScrubJob(region: region.config, scrub: scrub, backend: backend)))
                }
            }
            if model != next { try? await persist(model) }
        }
        return RecoverResponse(
            regions: plans.map { id, reasons, plan in
                let shown =
                    apply
                    ? model.regions[id]
                    : try? PoolModel(snapshot: PoolSnapshot(regions: [plan.region]))
                        .regions[id]
                let devices = shown.map { region in region.sortedDevices.map { info(for: $0, in: region) } } ?? []
                return RegionRecovery(
                    region: id, reasons: reasons, decisions: plan.decisions, applied: apply, devices: devices)
            })
    }

    /// Sets the sizes of the ready files region `id`'s pool keeps (shm and hugetlb) and starts filling them in the
    /// background. Ready files no size asks for stay until a device needs their memory.
    public func setPool(_ id: Int, _ request: SetPoolRequest, by caller: Caller = .daemon) async throws -> RegionInfo {
        try policy.requireAdministrator(caller, to: "configure region pools")
        let region = try model.region(id)
        var config = region.config
        config.pool = try parsePool(request.pool, backend: config.backend)
        if let problem = config.poolProblem() { throw PoolError.invalidRequest(problem) }
        var next = model
        try next.replaceConfig(config)
        try await persist(next)
        queueFill(id)
        logger.info("set the region's pool", metadata: ["region": "\(id)", "sizes": "\(config.pool.map(\.rawValue))"])
        return info(for: try model.region(id), includeDevices: true, visibleTo: caller)
    }

    /// Queues a fill of region `id`'s pool when it names sizes and no fill is queued for it yet.
    func queueFill(_ id: Int) {
        guard let region = model.regions[id], region.degraded == nil, !region.config.pool.isEmpty,
            !queuedFills.contains(id)
        else { return }
        queuedFills.insert(id)
        scrubContinuation.yield(.fill(region: id))
    }

    /// The region and backend a queued fill works on, read when it starts (so that it sees the latest pool), or
    /// `nil` when the region is gone or keeps no pool any more.
    func startFill(_ id: Int) -> (RegionConfig, any MemoryBackend)? {
        queuedFills.remove(id)
        guard let region = model.regions[id], !region.config.pool.isEmpty,
            let backend = backends[region.config.backend]
        else { return nil }
        return (region.config, backend)
    }

    /// The pool sizes of a request: only shm and hugetlb keep a pool.
    private func parsePool(_ values: [SizeValue], backend: BackendKind) throws(PoolError) -> [ByteCount] {
        guard values.isEmpty || backend == .shm || backend == .hugetlb else {
            throw .invalidRequest("a \(backend) region keeps no pool: pool is for shm and hugetlb regions")
        }
        guard values.count <= RegionConfig.maximumPoolFiles else {
            throw .invalidRequest(
                "a pool of \(values.count) files is more than the \(RegionConfig.maximumPoolFiles) a region may keep")
        }
        var sizes: [ByteCount] = []
        for value in values { sizes.append(try parseSize(value, field: "pool")) }
        return sizes
    }

    // MARK: - Devices

    /// Creates a device. When the memory it needs is only held by scrubs still running (a VM restarted with another
    /// size right after its old device was destroyed), the create waits for them instead of failing, as long as
    /// scrubs keep finishing.
    public func createDevice(_ request: CreateDeviceRequest, by caller: Caller = .daemon) async throws -> DeviceInfo {
        while true {
            do {
                return try await createDeviceNow(request, by: caller)
            } catch PoolError.allocation(.insufficientSpace(let requested, _, _))
                where queuedScrubs.isServed && scrubsWouldMakeRoom(for: requested, in: request.region)
            {
                logger.info(
                    "a create waits for scrubs to free memory",
                    metadata: ["requested": "\(requested)", "scrubs": "\(model.pendingScrubs.count)"])
                await withCheckedContinuation { scrubWaiters.append($0) }
            }
        }
    }

    /// Whether memory waiting for its scrub would give a region (`region`, or any sound one) room for `bytes`.
    private func scrubsWouldMakeRoom(for bytes: ByteCount, in region: Int?) -> Bool {
        model.regions.values.contains { state in
            guard state.degraded == nil, region == nil || region == state.config.id, !state.pendingScrubs.isEmpty
            else { return false }
            let waiting = state.pendingScrubs.reduce(0) { $0 + $1.size.rawValue }
            return state.allocator.availableSize.rawValue + waiting >= bytes.rawValue
        }
    }

    private func createDeviceNow(_ request: CreateDeviceRequest, by caller: Caller) async throws -> DeviceInfo {
        guard policy.mayCreateDevices(caller) else {
            throw AccessDenied(
                "\(caller) may not create devices: ask an administrator to add you to device_creators in the "
                    + "daemon's configuration"
            )
        }
        if let owner = request.owner, owner != caller.uid {
            try policy.requireAdministrator(caller, to: "create a device for uid \(owner)")
        }
        let owner = request.owner ?? caller.uid
        let size = try request.size.map { try parseSize($0, field: "size") }
        let align = try request.align.map { try parseAlignment($0) }
        var name: DeviceName?
        if let text = request.name {
            do { name = try DeviceName(validating: text) } catch { throw PoolError.invalidRequest(error.description) }
        }
        let uuid: LabelUUID
        if let text = request.uuid {
            guard let parsed = LabelUUID(text) else {
                throw PoolError.invalidRequest("uuid '\(text)' is not a UUID: use the 8-4-4-4-12 hex form")
            }
            guard !parsed.isZero else {
                throw PoolError.invalidRequest(
                    "uuid \(parsed) is the all-zero uuid, which namespace labels reserve for \"no namespace\": "
                        + "give another uuid, or omit uuid for a random one")
            }
            uuid = parsed
        } else {
            uuid = LabelUUID.random(using: &generator)
        }
        // Mappings from `list -M` carry physical addresses for devdax: validate them, choose the region by their
        // total, then turn them into region offsets with that region's base.
        let requestedLayout = try request.mappings.map { try Self.layout(from: $0) }
        if let size, size.rawValue == 0 { throw PoolError.allocation(.zeroSize) }
        // Lent memory a new device needs is taken back from the host first (`--lend-idle`).
        if let size, requestedLayout == nil {
            try await reclaimForCreate(region: request.region, size: size, by: caller)
        }
        let targetID = try model.targetRegion(
            request.region,
            size: size ?? ByteCount(requestedLayout?.reduce(0) { $0 + $1.length.rawValue } ?? 0)
        )
        let target = try model.region(targetID)
        let layout = try requestedLayout.map { try Self.offsets($0, base: target.config.base ?? 0) }
        let backend = try backendFor(target.config.backend)
        let instance = try backend.claimDeviceInstance(in: target.config, proposed: target.nextInstance)
        var next = model
        let record = try next.createDevice(
            region: targetID,
            size: size,
            align: align,
            name: name,
            uuid: uuid,
            layout: layout,
            instance: instance,
            owner: owner
        )
        let region = try next.region(record.id.region)
        let extents = region.allocator.ranges(of: record.id.instance)
        // A state the store cannot hold (a full label area) is refused before the backend does anything.
        try store.check(next.snapshot)
        let deviceSize = region.allocator.size(of: record.id.instance)
        let config = region.config
        let make: @Sendable () throws -> Void = { [self] in
            try provision(record, size: deviceSize, extents: extents, in: config, backend: backend)
            try backend.setDeviceOwner(record.id, uid: owner, in: config)
        }
        do {
            if config.backend == .shm || config.backend == .hugetlb {
                // The memory is allocated off this actor, so a slow fallocate never stalls another request: the
                // device's ranges, number and name are taken meanwhile, and it is neither persisted nor listed.
                next.markProvisional(record.id)
                model = next
                do {
                    try await Self.offActor(make)
                } catch {
                    model.abandon(record.id)
                    throw error
                }
                next = model
                next.settle(record.id)
            } else {
                // devdax takes the kernel's seed device, which the next create would take too: one at a time.
                try make()
            }
            do {
                try await persist(next)
            } catch {
                model.abandon(record.id)
                throw error
            }
        } catch {
            // Revoked first, the new file is empty: the destroy unlinks it instead of pooling it, so a refused
            // create leaves the region directory as it was.
            try? backend.revokeDevice(record.id, in: region.config)
            try? backend.destroyDevice(record.id, in: region.config)
            throw error
        }
        queueFill(region.config.id)
        logger.info(
            "created device",
            metadata: ["device": "\(record.id)", "size": "\(region.allocator.size(of: record.id.instance))"])
        return info(for: record, in: region)
    }

    /// Resizes or realigns the device named by `name` as `request` asks, in the backend and the persisted state, and
    /// returns it.
    /// - Throws: `AccessDenied` unless `caller` owns the device or administers, `PoolError` for a change the pool
    ///   refuses (an enabled or leased device without `force`, no room), or the backend's or store's error.
    public func reconfigureDevice(_ name: String, _ request: ReconfigureDeviceRequest, by caller: Caller = .daemon)
        async throws -> DeviceInfo
    {
        let size = try request.size.map { try parseSize($0, field: "size") }
        let align = try request.align.map { try parseAlignment($0) }
        let old = try authorizedDevice(name, caller, to: "reconfigure")
        let oldRegion = try model.region(old.id.region)
        let oldSize = oldRegion.allocator.size(of: old.id.instance)
        var next = model
        let record = try next.reconfigureDevice(old.id, size: size, align: align, force: request.force ?? false)
        let region = try next.region(record.id.region)
        let newSize = region.allocator.size(of: record.id.instance)
        let backend = try backendFor(region.config.backend)
        let layoutChanged = newSize != oldSize || record.align != old.align
        try store.check(next.snapshot)
        let extents = region.allocator.ranges(of: record.id.instance)
        if newSize > oldSize, region.config.backend == .shm || region.config.backend == .hugetlb {
            // A grow allocates off this actor, as a create does: the new ranges are taken meanwhile, the device
            // is persisted as it was and answers device_busy until its memory is there.
            let config = region.config
            next.markResizing(
                record.id, before: DeviceSnapshot(record: old, extents: oldRegion.allocator.ranges(of: old.id.instance))
            )
            model = next
            do {
                try await Self.offActor { [self] in
                    try provision(record, size: newSize, extents: extents, in: config, backend: backend)
                }
            } catch {
                model.abandonResize(record.id)
                throw error
            }
            next = model
            next.finishResize(record.id)
        } else if layoutChanged {
            try provision(record, size: newSize, extents: extents, in: region.config, backend: backend)
        }
        do {
            try await persist(next)
        } catch {
            model.abandonResize(record.id)
            if layoutChanged {
                try? backend.provisionDevice(
                    record.id, size: oldSize, extents: oldRegion.allocator.ranges(of: old.id.instance),
                    align: old.align, in: oldRegion.config)
            }
            throw error
        }
        if layoutChanged { queueFill(region.config.id) }
        return info(for: record, in: region)
    }

    /// Destroys a device. A leased device needs `force`, which revokes the leases: the device's memory is taken
    /// from its holders (a file is truncated, a devdax device unbound, so their next access faults) before it is
    /// released. When the backend keeps memory for reuse, the memory is only taken out of sight here (fast) and
    /// stays out of free space as a pending scrub, persisted with the state; the `ScrubService` zeroes it off this
    /// actor and then frees it (`finishScrub`). So no request waits for a scrub, and no new device can get memory
    /// that still holds the last owner's bytes, even across a crash.
    /// - Returns: the pending scrub, or `nil` when the memory went back to the kernel.
    @discardableResult
    public func destroyDevice(_ name: String, force: Bool, by caller: Caller = .daemon) async throws -> PendingScrub? {
        let record = try authorizedDevice(name, caller, to: "destroy")
        reportExcess(of: record.id)
        let region = try model.region(record.id.region)
        let backend = try backendFor(region.config.backend)
        var next = model
        let scrubs = backend.scrubsRetiredMemory(of: region.allocator.size(of: record.id.instance), in: region.config)
        let pending: PendingScrub?
        if scrubs {
            pending = try next.destroyDevice(record.id, force: force, scrubToken: Self.scrubToken(using: &generator))
        } else {
            try next.destroyDevice(record.id, force: force)
            pending = nil
        }
        // Until the backend has taken the memory away below, the number is not given to a new device (whose file
        // would have the same name).
        next.retire(region: record.id.region, instance: record.id.instance)
        try await persist(next)
        defer { model.retire(region: record.id.region, instance: record.id.instance, done: true) }
        if !record.leases.isEmpty {
            logger.warning(
                "revoking leases of a destroyed device",
                metadata: ["device": "\(record.id)", "holders": "\(record.leases.map(\.pid))"])
            for lease in record.leases { stopWatchingIfUnleased(lease.pid) }
        }
        // The backend takes the memory away off this actor (an unlink or truncate of a large file frees its pages
        // as it goes): other requests go on meanwhile, and the number stays retired until it is done.
        let id = record.id
        let config = region.config
        let revoke = !record.leases.isEmpty
        let logger = logger
        try? await Self.offActor {
            if revoke {
                do {
                    try backend.revokeDevice(id, in: config)
                } catch {
                    logger.error("\(id) could not be revoked from its holders: \(error)")
                }
            }
            if let pending {
                do {
                    try backend.retireDevice(id, token: pending.token, in: config)
                } catch {
                    // The file keeps its device name; the next start's reconcile scrubs it as a file no device owns.
                    logger.warning("\(id) is gone from the state but its memory was not retired: \(error)")
                }
            } else {
                do {
                    try backend.destroyDevice(id, in: config)
                } catch {
                    logger.warning("\(id) is gone from the state but its memory was not released: \(error)")
                }
            }
        }
        guard let pending else {
            logger.info("destroyed device", metadata: ["device": "\(record.id)"])
            return nil
        }
        queuedScrubs.added()
        // The scrub's progress is its owner's to see, as the device's was.
        progress.rememberOwner(record.owner ?? policy.daemonUID, of: record.uuid)
        scrubContinuation.yield(.scrub(ScrubJob(region: region.config, scrub: pending, backend: backend)))
        logger.info(
            "destroyed device; its memory is being scrubbed",
            metadata: ["device": "\(record.id)", "bytes": "\(pending.size)"])
        return pending
    }

    /// Frees the memory of a scrub the `ScrubService` finished (or gave up on: the backend then gave the memory
    /// back to the kernel, which zeroes it before reuse), and persists that.
    func finishScrub(_ job: ScrubJob) async {
        var next = model
        // Creates waiting for memory try again, whether this scrub freed it or not.
        defer {
            let waiters = scrubWaiters
            scrubWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        do {
            try next.finishScrub(region: job.region.id, id: job.scrub.id)
            try await persist(next)
            queueFill(job.region.id)
        } catch {
            logger.error(
                "a scrub finished but its memory could not be freed; it stays out of use until the next start",
                metadata: ["device": "\(job.scrub.device)", "error": "\(error)"])
        }
    }

    /// Ends the stream of scrub jobs (at shutdown); scrubs not started stay pending in the saved state.
    nonisolated func stopScrubbing() {
        scrubContinuation.finish()
    }

    /// The memory waiting to be scrubbed.
    public var pendingScrubs: [PendingScrub] { model.pendingScrubs.map(\.scrub) }

    /// Provisions a device's memory, publishing the prefault's progress.
    private nonisolated func provision(
        _ record: DeviceRecord,
        size: ByteCount,
        extents: [Extent],
        in region: RegionConfig,
        backend: any MemoryBackend
    ) throws {
        let hub = progress
        let operation = hub.start(
            .prefault, region: region.id, device: record.id, uuid: record.uuid, name: record.name, total: size,
            owner: record.owner ?? policy.daemonUID)
        do {
            try backend.provisionDevice(record.id, size: size, extents: extents, align: record.align, in: region) {
                done, _ in
                hub.update(operation, done: done)
            }
            hub.finish(operation)
        } catch {
            hub.finish(operation, failure: "\(error)")
            throw error
        }
    }

    /// 16 random hex digits naming a pending scrub.
    static func scrubToken(using generator: inout SystemRandomNumberGenerator) -> String {
        let digits = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Enables or disables the device named by `name` (its path appears or goes) and returns it; a device already in
    /// `state` is returned as it is. `force` disables a leased device.
    /// - Throws: `AccessDenied` unless `caller` owns the device or administers, `PoolError` when it is leased and not
    ///   forced, or the backend's or store's error.
    public func setDeviceState(_ name: String, _ state: DeviceState, force: Bool = false, by caller: Caller = .daemon)
        async throws -> DeviceInfo
    {
        let record = try authorizedDevice(name, caller, to: state == .enabled ? "enable" : "disable")
        let region = try model.region(record.id.region)
        guard record.state != state else { return info(for: record, in: region) }
        var next = model
        try next.setState(record.id, state, force: force)
        let backend = try backendFor(region.config.backend)
        try backend.setDeviceEnabled(record.id, enabled: state == .enabled, in: region.config)
        do {
            if state == .enabled {
                // devdax makes /dev/daxR.N anew, owned by root, each time it binds the device.
                try backend.setDeviceOwner(record.id, uid: record.owner ?? policy.daemonUID, in: region.config)
            }
            try await persist(next)
        } catch {
            try? backend.setDeviceEnabled(record.id, enabled: state != .enabled, in: region.config)
            throw error
        }
        return try info(for: next.device(record.id), in: next.region(record.id.region))
    }

    // MARK: - Leases

    /// Takes a lease on a device for `pid` (default: the caller's own process). The daemon watches the holder
    /// and ends the lease when it exits. Only administrators lease for another user's process.
    public func attach(_ name: String, pid requested: Int32?, by caller: Caller = .daemon) async throws -> DeviceInfo {
        let record = try authorizedDevice(name, caller, to: "lease")
        guard let watcher else {
            throw PoolError.invalidRequest("this daemon cannot watch processes, so it cannot take leases")
        }
        guard let pid = requested ?? caller.pid else {
            throw PoolError.invalidRequest("give the pid of the process that holds \(record.id)")
        }
        guard pid > 0 else { throw PoolError.invalidRequest("pid \(pid) is not a process id: give a positive pid") }
        if record.leases.contains(where: { $0.pid == pid }) { throw PoolError.leaseExists(record.id, pid: pid) }
        let alreadyWatched = model.leases.contains { $0.lease.pid == pid }
        let identity: ProcessIdentity
        do {
            identity = try watcher.watch(pid: pid, startTime: nil) { [weak self] in
                Task { await self?.holderExited(pid) }
            }
        } catch {
            throw PoolError.invalidRequest("cannot lease \(record.id) to pid \(pid): \(error)")
        }
        do {
            if identity.uid != caller.uid {
                try policy.requireAdministrator(caller, to: "lease \(record.id) to pid \(pid) of uid \(identity.uid)")
            }
            var next = model
            try next.addLease(Lease(pid: pid, uid: identity.uid, startTime: identity.startTime), to: record.id)
            try await persist(next)
        } catch {
            if !alreadyWatched { watcher.stopWatching(pid: pid) }
            throw error
        }
        logger.info("leased device", metadata: ["device": "\(record.id)", "pid": "\(pid)", "uid": "\(identity.uid)"])
        return try info(for: model.device(record.id), in: model.region(record.id.region))
    }

    /// Ends `pid`'s lease on a device.
    public func detach(_ name: String, pid: Int32, by caller: Caller = .daemon) async throws {
        let record = try authorizedDevice(name, caller, to: "release a lease of")
        var next = model
        try next.removeLease(pid: pid, from: record.id)
        try await persist(next)
        stopWatchingIfUnleased(pid)
        logger.info("released lease", metadata: ["device": "\(record.id)", "pid": "\(pid)"])
    }

    /// A lease holder exited: its leases end.
    func holderExited(_ pid: Int32) async {
        var next = model
        let released = next.removeLeases(pid: pid)
        guard !released.isEmpty else { return }
        do {
            try await persist(next)
            logger.info(
                "lease holder exited", metadata: ["pid": "\(pid)", "devices": "\(released.map(\.description))"])
        } catch {
            logger.error("lease holder \(pid) exited but its leases could not be released: \(error)")
        }
    }

    private func stopWatchingIfUnleased(_ pid: Int32) {
        if !model.leases.contains(where: { $0.lease.pid == pid }) { watcher?.stopWatching(pid: pid) }
    }

    /// After a start: keeps the persisted leases whose holder still runs (same pid and start time) and watches
    /// them again; drops the rest.
    private func revalidateLeases() {
        for (device, lease) in model.leases {
            let alive: Bool
            if let watcher {
                let pid = lease.pid
                alive =
                    (try? watcher.watch(pid: pid, startTime: lease.startTime) { [weak self] in
                        Task { await self?.holderExited(pid) }
                    }) != nil
            } else {
                alive = false
            }
            if !alive {
                try? model.removeLease(pid: lease.pid, from: device)
                logger.notice(
                    "dropped the lease of a holder that is gone",
                    metadata: ["device": "\(device)", "pid": "\(lease.pid)"])
            }
        }
    }

    // MARK: - Memory errors

    /// Records a memory error the kernel reported in a device's memory (a `SIGBUS` on the daemon's own mapping of
    /// it): `offset` bytes into `device`, in a granule of `1 << granuleShift` bytes.
    public func recordMemoryError(
        device: DeviceID,
        offset: ByteCount,
        granuleShift: Int,
        source: String
    ) async throws -> [MemoryErrorEvent] {
        let granule: Alignment =
            switch granuleShift {
            case 30...: .page1G
            case 21..<30: .page2M
            default: .page4K
            }
        let start = offset.rawValue & ~(granule.rawValue - 1)
        let size = model.extents(of: device).reduce(0) { $0 + $1.length.rawValue }
        let length = min(granule.rawValue, size > start ? size - start : 0)
        return try await recordMemoryError(
            InjectErrorRequest(
                device: device.description,
                offset: SizeValue(bytes: start),
                length: SizeValue(bytes: max(length, 1)),
                granule: SizeValue(bytes: granule.rawValue)
            ),
            source: source
        )
    }

    /// Records a memory error (from the API, a SIGBUS or kernel badblocks): attributes it, quarantines it,
    /// persists it, and tells every connected event client.
    public func recordMemoryError(_ request: InjectErrorRequest, source: String = "api", by caller: Caller = .daemon)
        async throws -> [MemoryErrorEvent]
    {
        try policy.requireAdministrator(caller, to: "report memory errors")
        let length = try parseSize(request.length, field: "length")
        let granule = try request.granule.map { try parseAlignment($0) } ?? .page4K
        let regionID: Int
        let offset: RegionOffset
        if let deviceName = request.device {
            guard request.region == nil, request.regionOffset == nil else {
                throw PoolError.invalidRequest("give either device and offset, or region and region_offset")
            }
            let record = try model.resolveDevice(deviceName)
            let deviceOffset = try request.offset.map { try parseSize($0, field: "offset") } ?? .zero
            guard let regionOffset = Self.regionOffset(of: deviceOffset, in: model.extents(of: record.id)) else {
                throw PoolError.invalidRequest(
                    "offset \(deviceOffset) is past the end of \(record.id) (size \(model.extents(of: record.id).reduce(0) { $0 + $1.length.rawValue }) bytes)"
                )
            }
            guard length.rawValue <= Self.bytes(after: deviceOffset, in: model.extents(of: record.id)) else {
                throw PoolError.invalidRequest("offset + length runs past the end of \(record.id)")
            }
            regionID = record.id.region
            offset = regionOffset
        } else if let region = request.region, let regionOffsetValue = request.regionOffset {
            guard request.offset == nil else {
                throw PoolError.invalidRequest("offset is a device offset: use region_offset with region")
            }
            regionID = region
            offset = RegionOffset(try parseSize(regionOffsetValue, field: "region_offset").rawValue)
        } else {
            throw PoolError.invalidRequest("give either device and offset, or region and region_offset")
        }
        var next = model
        let produced = try next.recordMemoryError(
            region: regionID, offset: offset, length: length, granule: granule, source: source, time: Self.now()
        )
        try await persist(next)
        for event in produced {
            logger.warning(
                "memory error quarantined",
                metadata: [
                    "region": "\(event.region)", "region_offset": "\(event.regionOffset)", "length": "\(event.length)",
                    "device": "\(event.device ?? "-")",
                    "device_offset": "\(event.deviceOffset.map(String.init) ?? "-")",
                ]
            )
            for continuation in subscribers.values { continuation.yield(event) }
        }
        return produced
    }

    /// Records the kernel's bad ranges of the nd region behind region `regionID` (byte extents from the nd region's
    /// start; the region's offset 0 lies `base` bytes in): the parts inside the region that it does not know as
    /// bad yet become memory errors with source `badblocks`.
    public func recordKernelBadBlocks(region regionID: Int, base: UInt64, _ ranges: [Extent]) async throws
        -> [MemoryErrorEvent]
    {
        let region = try model.region(regionID)
        let inside = KernelBadBlocks.regionRanges(ranges, base: base, size: region.config.size)
        var produced: [MemoryErrorEvent] = []
        for range in KernelBadBlocks.uncovered(inside, by: region.badBlocks) {
            produced += try await recordMemoryError(
                InjectErrorRequest(
                    region: regionID,
                    regionOffset: SizeValue(bytes: range.start.rawValue),
                    length: SizeValue(bytes: range.length.rawValue)
                ),
                source: "badblocks"
            )
        }
        return produced
    }

    /// Forgets bad blocks in a range of a region.
    public func clearErrors(_ request: ClearErrorsRequest, by caller: Caller = .daemon) async throws
        -> ClearErrorsResponse
    {
        try policy.requireAdministrator(caller, to: "clear memory errors")
        let start = try parseSize(request.regionOffset, field: "region_offset")
        let length = try parseSize(request.length, field: "length")
        guard length.rawValue > 0, start.adding(length) != nil else {
            throw PoolError.invalidRequest("length must be greater than zero and the range must fit in 64 bits")
        }
        var next = model
        let cleared = try next.clearBadBlocks(
            region: request.region,
            extent: Extent(start: RegionOffset(start.rawValue), length: length)
        )
        try await persist(next)
        return ClearErrorsResponse(cleared: cleared, region: try region(request.region, by: caller))
    }

    /// The retained events after `sequence`, and a stream of the ones to come (atomically: none is lost
    /// between the two).
    public func subscribe(after sequence: UInt64) -> (
        backlog: [MemoryErrorEvent], stream: AsyncStream<MemoryErrorEvent>
    ) {
        let id = nextSubscriber
        nextSubscriber += 1
        let (stream, continuation) = AsyncStream<MemoryErrorEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return (model.events.filter { $0.sequence > sequence }, stream)
    }

    /// Whether `caller` may read `event`: administrators read every event; a device's owner reads the events of
    /// that device (the same device: its uuid must match, so a later device with the same id does not inherit them).
    public func mayRead(_ event: MemoryErrorEvent, _ caller: Caller) -> Bool {
        if policy.isAdministrator(caller) { return true }
        guard let name = event.device, let record = try? model.resolveDevice(name) else { return false }
        return record.owner == caller.uid && event.deviceUUID == record.uuid.description
    }

    /// The retained events after `sequence`.
    public func events(after sequence: UInt64) -> [MemoryErrorEvent] {
        model.events.filter { $0.sequence > sequence }
    }

    private func unsubscribe(_ id: Int) {
        subscribers[id] = nil
    }

    /// Ends every event stream (at shutdown).
    public func finishSubscribers() {
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }

    static func regionOffset(of deviceOffset: ByteCount, in extents: [Extent]) -> RegionOffset? {
        var base: UInt64 = 0
        for extent in extents {
            if deviceOffset.rawValue < base + extent.length.rawValue {
                return RegionOffset(extent.start.rawValue + deviceOffset.rawValue - base)
            }
            base += extent.length.rawValue
        }
        return nil
    }

    static func bytes(after deviceOffset: ByteCount, in extents: [Extent]) -> UInt64 {
        let total = extents.reduce(0) { $0 + $1.length.rawValue }
        return total > deviceOffset.rawValue ? total - deviceOffset.rawValue : 0
    }

    static func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }

    // MARK: - Helpers

    /// The device named `name`, when `caller` owns it or is an administrator.
    func authorizedDevice(_ name: String, _ caller: Caller, to action: String) throws -> DeviceRecord {
        let record = try model.resolveDevice(name)
        if model.isBusy(record.id) { throw PoolError.deviceBusy(record.id) }
        try policy.requireOwner(
            caller, owner: record.owner ?? policy.daemonUID, device: record.id.description, to: action)
        return record
    }

    private func isVisible(_ record: DeviceRecord, to caller: Caller) -> Bool {
        record.owner == caller.uid || policy.isAdministrator(caller)
    }

    func backendFor(_ kind: BackendKind) throws(PoolError) -> any MemoryBackend {
        guard let backend = backends[kind] else {
            throw .invalidRequest(
                "backend '\(kind)' is not available in this daemon; available: "
                    + backends.keys.map(\.rawValue).sorted().joined(separator: ", ")
            )
        }
        return backend
    }

    func parseSize(_ value: SizeValue, field: String) throws(PoolError) -> ByteCount {
        do { return try value.parsed() } catch { throw .invalidRequest("\(field): \(error.description)") }
    }

    private func parseAlignment(_ value: SizeValue) throws(PoolError) -> Alignment {
        do { return try Alignment(parsing: value.text) } catch { throw .invalidRequest(error.description) }
    }

    static func layout(from mappings: [MappingRequest]) throws(PoolError) -> [Extent] {
        guard !mappings.isEmpty else { throw .invalidLayout("mappings is empty") }
        let ordered = mappings.enumerated().sorted {
            ($0.element.pageOffset ?? UInt64($0.offset)) < ($1.element.pageOffset ?? UInt64($1.offset))
        }
        var extents: [Extent] = []
        var expectedPageOffset: UInt64 = 0
        for (_, mapping) in ordered {
            guard mapping.end >= mapping.start, mapping.end < UInt64.max else {
                throw .invalidLayout("mapping \(mapping.start)-\(mapping.end) ends before it starts")
            }
            let length = mapping.end - mapping.start + 1
            if let pageOffset = mapping.pageOffset, pageOffset != expectedPageOffset {
                throw .invalidLayout(
                    "page_offset \(pageOffset) should be \(expectedPageOffset): mappings must be contiguous in the device"
                )
            }
            extents.append(Extent(start: RegionOffset(mapping.start), length: ByteCount(length)))
            expectedPageOffset += length >> 12
        }
        return extents
    }

    /// `extents` with `base` subtracted: physical addresses (devdax `list -M`) to region offsets.
    static func offsets(_ extents: [Extent], base: UInt64) throws(PoolError) -> [Extent] {
        guard base > 0 else { return extents }
        return try extents.map { extent throws(PoolError) in
            guard extent.start.rawValue >= base else {
                throw .invalidLayout(
                    "mapping \(extent) starts below the region's first byte \(RegionOffset(base)): use the "
                        + "start/end addresses that list -M prints for this region")
            }
            return Extent(start: RegionOffset(extent.start.rawValue - base), length: extent.length)
        }
    }

    private func info(for region: RegionState, includeDevices: Bool, visibleTo caller: Caller) -> RegionInfo {
        let available = region.allocator.availableSize.rawValue
        return RegionInfo(
            id: region.config.id,
            path: region.config.path,
            size: region.config.size.rawValue,
            availableSize: available > 0 ? available : nil,
            align: backends[region.config.backend]?.reportedAlign(of: region.config) ?? region.config.pageSize.rawValue,
            devices: includeDevices
                ? region.settledDevices.filter { isVisible($0, to: caller) }.map { info(for: $0, in: region) } : nil,
            backend: region.config.backend,
            pageSize: region.config.pageSize.rawValue,
            targetNode: region.config.targetNode,
            largestAvailableExtent: region.allocator.largestFreeExtent(alignment: region.config.pageSize).rawValue,
            badblocks: region.badBlocks.map { BadBlock(offset: $0.start.rawValue, length: $0.length.rawValue) },
            pageMetadata: backends[region.config.backend]?.pageMetadata(for: region.config),
            labelArea: labelAreas(region.config.id),
            pool: poolInfo(region.config),
            pendingScrubSize: region.pendingScrubs.isEmpty
                ? nil : region.pendingScrubs.reduce(0) { $0 + $1.size.rawValue },
            degradedReasons: region.degraded?.reasons,
            lostFound: lostFiles(region.config),
            freeExtents: region.allocator.freeExtents.map {
                FreeExtent(offset: $0.start.rawValue, length: $0.length.rawValue)
            }
        )
    }

    /// The files in the region's lost+found, or `nil` when there are none.
    private func lostFiles(_ config: RegionConfig) -> [LostFileInfo]? {
        let files = backends[config.backend]?.lostFiles(in: config) ?? []
        return files.isEmpty ? nil : files.map { LostFileInfo(name: $0.name, size: $0.size.rawValue) }
    }

    /// The region's pool as `list -R` shows it: `nil` when it keeps and holds nothing.
    private func poolInfo(_ config: RegionConfig) -> PoolInfo? {
        let ready = backends[config.backend]?.readyFiles(in: config) ?? []
        guard !config.pool.isEmpty || !ready.isEmpty else { return nil }
        return PoolInfo(target: config.pool.map(\.rawValue), ready: ready.map(\.rawValue))
    }

    func info(for record: DeviceRecord, in region: RegionState) -> DeviceInfo {
        let extents = region.allocator.ranges(of: record.id.instance)
        let size = region.allocator.size(of: record.id.instance).rawValue
        let held = backends[region.config.backend]?.memoryHeld(by: record.id, in: region.config)?.rawValue ?? 0
        return DeviceInfo(
            chardev: record.id.description,
            size: size,
            targetNode: region.config.targetNode,
            align: record.align.rawValue,
            mappings: DeviceMapping.mappings(of: extents, base: region.config.base ?? 0),
            path: backends[region.config.backend]?.devicePath(record.id, in: region.config),
            uuid: record.uuid.description,
            name: record.name?.value,
            state: record.state,
            backend: region.config.backend,
            badblocks: model.badBlocks(of: record.id).map {
                BadBlock(offset: $0.start.rawValue, length: $0.length.rawValue)
            },
            owner: record.owner ?? policy.daemonUID,
            leases: record.leases.map { LeaseInfo(pid: $0.pid, uid: $0.uid) },
            excessSize: held > size ? held - size : nil,
            usableSize: vmmUsableSize(of: record, in: region, size: size)
        )
        .lent(record.state == .lent ? lendStatus(of: record, in: region) : nil)
    }
}
