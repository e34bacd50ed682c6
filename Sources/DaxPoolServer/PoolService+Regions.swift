import DaxPoolAPI
import DaxPoolCore
import Dispatch
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Creating, destroying, recovering and configuring regions, and their ready pools.
extension PoolService {
    /// Checks `request`, has the backend prepare the region (off the actor where that is slow), persists it and
    /// returns it. Administrators only.
    /// - Throws: `AccessDenied`, `PoolError` for a request the pool refuses, `BackendRefusal` for one the host cannot
    ///   take, or the backend's or store's error (then nothing of the region stays).
    public func createRegion(_ request: CreateRegionRequest, by caller: Caller = .daemon) async throws -> RegionInfo {
        try policy.requireAdministrator(caller, to: "create regions")
        guard let size = request.size ?? (request.backend == .devdax ? .zero : nil) else {
            throw PoolError.invalidRequest("size is required for a \(request.backend) region")
        }
        let hvo = try request.hvo.map { text throws(PoolError) in try VmemmapOptimizationChoice(parsing: text) }
        return try await createRegion(
            backend: request.backend, size: size, path: request.path, pageSize: request.pageSize, node: request.node,
            daxRegion: request.daxRegion, pool: request.pool ?? [], hvo: hvo, visibleTo: caller)
    }

    /// Creates a region of `size` bytes (`.zero` for a devdax region: the kernel region's size), as
    /// `createRegion(_:by:)` does for a request, with the daemon's authority (the default region at start).
    /// - Throws: `PoolError` for a region the pool refuses, `BackendRefusal` for one the host cannot take, or the
    ///   backend's or store's error (then nothing of the region stays).
    func createRegion(
        backend kind: BackendKind, size: ByteCount, path requestedPath: String? = nil,
        pageSize requestedPageSize: Alignment? = nil, node: Int? = nil, daxRegion: Int? = nil, pool: [ByteCount] = [],
        hvo: VmemmapOptimizationChoice? = nil, visibleTo caller: Caller = .daemon
    ) async throws -> RegionInfo {
        let backend = try backendFor(kind)
        if hvo != nil, kind != .hugetlb {
            throw PoolError.invalidRequest("hvo is only for hugetlb regions: omit it for a \(kind) region")
        }
        if let daxRegion {
            guard kind == .devdax else {
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
        let id = daxRegion ?? (kind == .devdax ? model.nextRegionID : freeRegionID())
        let pageSize = requestedPageSize ?? (kind == .hugetlb ? .page2M : .page4K)
        if let node, node < 0 || node > 4095 {
            throw PoolError.invalidRequest("node \(node) is not a NUMA node number")
        }
        let path: String
        if let requested = requestedPath {
            try PathRules.check(requested)
            path = requested
        } else {
            path = settings.defaultPath(for: kind, region: id)
        }
        try checkPoolBackend(pool, backend: kind)
        var wanted = RegionConfig(
            id: id,
            backend: kind,
            size: size,
            align: .page1G,
            pageSize: pageSize,
            targetNode: node,
            path: path
        )
        wanted.pool = pool
        if kind != .devdax, let problem = wanted.poolProblem() {
            throw PoolError.invalidRequest(problem)
        }
        if kind != .devdax {
            var next = model
            try next.addRegion(wanted)
        }
        guard !creatingRegionPaths.contains(path) else {
            throw PoolError.invalidRequest("a region at \(path) is being created: wait for it, or give another path")
        }
        let config: RegionConfig
        if kind == .devdax {
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
        try checkPoolBackend(request.pool, backend: config.backend)
        config.pool = request.pool
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

    /// Refuses a pool for a backend that keeps none (only shm and hugetlb do) and one of more files than a region
    /// may keep.
    func checkPoolBackend(_ sizes: [ByteCount], backend: BackendKind) throws(PoolError) {
        guard sizes.isEmpty || backend == .shm || backend == .hugetlb else {
            throw .invalidRequest("a \(backend) region keeps no pool: pool is for shm and hugetlb regions")
        }
        guard sizes.count <= RegionConfig.maximumPoolFiles else {
            throw .invalidRequest(
                "a pool of \(sizes.count) files is more than the \(RegionConfig.maximumPoolFiles) a region may keep")
        }
    }
}
