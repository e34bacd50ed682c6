import DaxPoolAPI
import DaxPoolCore
import Dispatch
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Creating, reconfiguring and destroying devices, and the scrubs that free their memory.
extension PoolService {
    /// Creates a device. When the memory it needs is only held by scrubs still running (a VM restarted with another
    /// size right after its old device was destroyed), the create waits for them instead of failing, as long as
    /// scrubs keep finishing.
    public func createDevice(_ request: CreateDeviceRequest, by caller: Caller = .daemon) async throws -> DeviceInfo {
        while true {
            do {
                return try await createDeviceNow(request, by: caller)
            } catch PoolError.allocation(.insufficientSpace(let requested, _, _, _))
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
    func scrubsWouldMakeRoom(for bytes: ByteCount, in region: Int?) -> Bool {
        model.regions.values.contains { state in
            guard state.degraded == nil, region == nil || region == state.config.id, !state.pendingScrubs.isEmpty
            else { return false }
            let waiting = state.pendingScrubs.reduce(0) { $0 + $1.size.rawValue }
            // A device lies in one part of a region made of several (hugetlb mounts): one larger than every part
            // never fits, whatever the scrubs free.
            guard state.allocator.parts.contains(where: { $0.end - $0.start >= bytes.rawValue }) else { return false }
            return state.allocator.availableSize.rawValue + waiting >= bytes.rawValue
        }
    }

    func createDeviceNow(_ request: CreateDeviceRequest, by caller: Caller) async throws -> DeviceInfo {
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
        let size = request.size
        let align = request.align
        let name = request.name
        // The request's uuid was checked as it was decoded (8-4-4-4-12 hex, not all zero).
        let uuid = request.uuid ?? LabelUUID.random(using: &generator)
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
        let layout = try requestedLayout.map {
            try Self.offsets(
                $0, base: target.config.base ?? 0, claimed: Self.ordered(request.mappings ?? []).map(\.offset))
        }
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
                // Ready memory (a pooled file of its size) is renamed into place without a thread hop.
                next.markProvisional(record.id)
                model = next
                do {
                    let ready = try await Self.quickly { [self] in
                        try provisionAtOnce(record, size: deviceSize, owner: owner, in: config, backend: backend)
                    }
                    if !ready { try await Self.offActor(make) }
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
        let size = request.size
        let align = request.align
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
        let id = record.id
        let config = region.config
        let revoke = !record.leases.isEmpty
        let logger = logger
        if let pending, !revoke {
            // Retiring is a rename, too quick for a hop to another thread; and memory nobody wrote is ready at once.
            let scrubbed = try? await Self.quickly {
                do {
                    try backend.retireDevice(id, token: pending.token, in: config)
                } catch {
                    logger.warning("\(id) is gone from the state but its memory was not retired: \(error)")
                }
                return try backend.scrubRetiredAtOnce(token: pending.token, size: pending.size, in: config)
            }
            let job = ScrubJob(region: config, scrub: pending, backend: backend)
            if scrubbed == true {
                finishScrubAtOnce(job, owner: record.owner ?? policy.daemonUID)
                logger.info(
                    "destroyed device; its memory held nothing to zero",
                    metadata: ["device": "\(record.id)", "bytes": "\(pending.size)"])
                return pending
            }
            queueScrub(job, owner: record.owner ?? policy.daemonUID)
            return pending
        }
        // The backend takes the memory away off this actor (an unlink or truncate of a large file frees its pages
        // as it goes): other requests go on meanwhile, and the number stays retired until it is done.
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
        queueScrub(ScrubJob(region: config, scrub: pending, backend: backend), owner: record.owner ?? policy.daemonUID)
        return pending
    }

    /// Hands a destroyed device's retired memory to the `ScrubService`.
    func queueScrub(_ job: ScrubJob, owner: UInt32) {
        queuedScrubs.added()
        // The scrub's progress is its owner's to see, as the device's was.
        progress.rememberOwner(owner, of: job.scrub.deviceUUID)
        scrubContinuation.yield(.scrub(job))
        logger.info(
            "destroyed device; its memory is being scrubbed",
            metadata: ["device": "\(job.scrub.device)", "bytes": "\(job.scrub.size)"])
    }

    /// Frees the memory of a scrub the backend finished on the request path (`scrubRetiredAtOnce`: nothing to zero,
    /// or given back to the kernel), in the model only: the next commit carries it, so a destroy costs one commit.
    /// A crash before that leaves the scrub pending in the saved state, and the next start finds its memory ready
    /// (or gone) and finishes it, as it does for a scrub cut off between its zeroing and its commit.
    func finishScrubAtOnce(_ job: ScrubJob, owner: UInt32) {
        // Its owner sees the scrub start and finish, as for a scrub on the scrub thread.
        let operation = progress.start(
            .scrub, region: job.region.id, device: job.scrub.device, uuid: job.scrub.deviceUUID,
            name: job.scrub.deviceName, total: job.scrub.size, owner: owner)
        progress.finish(operation)
        do {
            try model.finishScrub(region: job.region.id, id: job.scrub.id)
        } catch {
            logger.error(
                "a scrub finished but its memory could not be freed; it stays out of use until the next start",
                metadata: ["device": "\(job.scrub.device)", "error": "\(error)"])
        }
        resumeScrubWaiters()
        queueFill(job.region.id)
    }

    /// Lets the creates waiting for scrubs to free memory try again.
    func resumeScrubWaiters() {
        let waiters = scrubWaiters
        scrubWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    /// Frees the memory of a scrub the `ScrubService` finished (or gave up on: the backend then gave the memory
    /// back to the kernel, which zeroes it before reuse), and persists that.
    func finishScrub(_ job: ScrubJob) async {
        var next = model
        // Creates waiting for memory try again, whether this scrub freed it or not.
        defer { resumeScrubWaiters() }
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
    nonisolated func provision(
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

    /// `provision`, done at once when the backend can (`provisionDeviceAtOnce`), with the memory given to `owner`,
    /// publishing the prefault as done.
    /// - Returns: whether the device's memory is there and `owner`'s; `false` when nothing was done.
    nonisolated func provisionAtOnce(
        _ record: DeviceRecord,
        size: ByteCount,
        owner: UInt32,
        in region: RegionConfig,
        backend: any MemoryBackend
    ) throws -> Bool {
        guard try backend.provisionDeviceAtOnce(record.id, size: size, owner: owner, in: region) else { return false }
        let operation = progress.start(
            .prefault, region: region.id, device: record.id, uuid: record.uuid, name: record.name, total: size,
            owner: record.owner ?? policy.daemonUID)
        progress.finish(operation)
        return true
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
}
