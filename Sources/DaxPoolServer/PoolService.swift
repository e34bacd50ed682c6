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
    let settings: PoolSettings
    let logger: Logger
    /// Where live-update records are kept; `nil`: this daemon cannot prepare a live update.
    let liveUpdate: LiveUpdateState?
    let labelAreas: @Sendable (Int) -> LabelAreaInfo?
    /// Who may do what.
    public nonisolated let policy: AccessPolicy
    /// Watches lease holders; `nil`: this daemon cannot take leases.
    let watcher: (any ProcessWatcher)?
    var generator = SystemRandomNumberGenerator()
    /// Lending memory to the host: the `--lend-idle` policy and the devices being lent or reclaimed.
    var lending = LendingState()
    /// The excess each device's memory was last reported with (`reportExcess`), by device uuid.
    var reportedExcess: [LabelUUID: UInt64] = [:]
    var subscribers: [Int: AsyncStream<MemoryErrorEvent>.Continuation] = [:]
    var nextSubscriber = 0
    /// Progress of scrubs and prefaults, for `/v1/progress`.
    public nonisolated let progress = ProgressHub()
    /// Destroyed devices' memory to zero and pools to fill, for the `ScrubService` (which does both off this actor).
    nonisolated let scrubJobs: AsyncStream<BackgroundJob>
    let scrubContinuation: AsyncStream<BackgroundJob>.Continuation
    /// Scrubs queued for the `ScrubService` and not yet started.
    nonisolated let queuedScrubs = QueuedScrubs()
    /// Regions with a pool fill queued and not yet started: a region is queued at most once.
    var queuedFills: Set<Int> = []
    /// Paths of regions whose backend is being created off the actor (`createRegion`): a second create of the same
    /// path is refused meanwhile.
    var creatingRegionPaths: Set<String> = []
    /// Creates waiting for a scrub to free memory (`createDevice`), resumed when a scrub finishes.
    var scrubWaiters: [CheckedContinuation<Void, Never>] = []

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
            let region = try await createRegion(backend: .shm, size: defaultSize)
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

    /// Runs `work` (a few quick system calls) off the actor, so that other requests use the actor meanwhile, without
    /// a hop to another thread: leaving an actor for the global executor continues on the same thread, and coming
    /// back takes the actor on that thread too when it is free. Only for work that never blocks for long: the
    /// cooperative pool has a thread per core.
    @concurrent
    static func quickly<Value: Sendable>(_ work: @Sendable () throws -> Value) async throws -> Value {
        try work()
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
    func record(_ finding: StoreFinding, source: String? = nil) {
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

    // MARK: - Helpers

    /// The device named `name`, when `caller` owns it or is an administrator.
    func authorizedDevice(_ name: String, _ caller: Caller, to action: String) throws -> DeviceRecord {
        let record = try model.resolveDevice(name)
        if model.isBusy(record.id) { throw PoolError.deviceBusy(record.id) }
        try policy.requireOwner(
            caller, owner: record.owner ?? policy.daemonUID, device: record.id.description, to: action)
        return record
    }

    func isVisible(_ record: DeviceRecord, to caller: Caller) -> Bool {
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

    /// `mappings` in device order: by `page_offset` where given, else in the order sent.
    static func ordered(_ mappings: [MappingRequest]) -> [MappingRequest] {
        mappings.enumerated().sorted {
            ($0.element.pageOffset ?? UInt64($0.offset)) < ($1.element.pageOffset ?? UInt64($1.offset))
        }.map(\.element)
    }

    static func layout(from mappings: [MappingRequest]) throws(PoolError) -> [Extent] {
        guard !mappings.isEmpty else { throw .invalidLayout("mappings is empty") }
        var extents: [Extent] = []
        var expectedPageOffset: UInt64 = 0
        for mapping in ordered(mappings) {
            guard mapping.end >= mapping.start, mapping.end < UInt64.max else {
                throw .invalidLayout("mapping \(mapping.start)-\(mapping.end) ends before it starts")
            }
            let length = mapping.end - mapping.start + 1
            if let size = mapping.size, size.rawValue != length {
                throw .invalidLayout(
                    "mapping \(mapping.start)-\(mapping.end) holds \(length) bytes, but its size says \(size.rawValue): "
                        + "send size as list -M printed it for this range, or omit it")
            }
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

    /// `extents` with `base` subtracted: physical addresses (devdax `list -M`) to region offsets. `claimed` holds
    /// each mapping's `offset` in the same order, where the request gave one: it must be the region offset its range
    /// stands for.
    static func offsets(_ extents: [Extent], base: UInt64, claimed: [RegionOffset?] = []) throws(PoolError)
        -> [Extent]
    {
        try extents.enumerated().map { index, extent throws(PoolError) in
            guard extent.start.rawValue >= base else {
                throw .invalidLayout(
                    "mapping \(extent) starts below the region's first byte \(RegionOffset(base)): use the "
                        + "start/end addresses that list -M prints for this region")
            }
            let offset = RegionOffset(extent.start.rawValue - base)
            if index < claimed.count, let claim = claimed[index], claim != offset {
                throw .invalidLayout(
                    "mapping \(extent) has offset \(claim.rawValue), but in this region (first byte "
                        + "\(RegionOffset(base))) its range starts at region offset \(offset.rawValue): send offset as "
                        + "list -M printed it for this region, or omit it")
            }
            return Extent(start: offset, length: extent.length)
        }
    }

    func info(for region: RegionState, includeDevices: Bool, visibleTo caller: Caller) -> RegionInfo {
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
            },
            segments: region.config.segments.isEmpty ? nil : region.config.segments.map(\.rawValue)
        )
    }

    /// The files in the region's lost+found, or `nil` when there are none.
    func lostFiles(_ config: RegionConfig) -> [LostFileInfo]? {
        let files = backends[config.backend]?.lostFiles(in: config) ?? []
        return files.isEmpty ? nil : files.map { LostFileInfo(name: $0.name, size: $0.size.rawValue) }
    }

    /// The region's pool as `list -R` shows it: `nil` when it keeps and holds nothing.
    func poolInfo(_ config: RegionConfig) -> PoolInfo? {
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
