import DaxPoolAPI
import DaxPoolCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The `--lend-idle` policy and the devices a lend or reclaim is working on.
struct LendingState: Sendable {
    /// Free memory each devdax region keeps unlent under the policy; `nil`: the policy is off.
    var keepFree: ByteCount?
    /// The size of each device the policy lends (whole memory blocks), so that a reclaim can take back part.
    var chunk = ByteCount.mebibytes(256)
    /// How long a reclaim the policy starts may take.
    var timeLimit = Duration.seconds(60)
    /// Lent devices a reclaim is taking back now.
    var busy: Set<DeviceID> = []
    /// Creates reclaiming lent memory now: the policy lends nothing meanwhile, so what they free stays theirs.
    var creating = 0
}

/// Lending devdax memory to the host as System RAM (`kmem`) and taking it back.
extension PoolService {
    /// Turns the `--lend-idle` policy on (`keepFree` not `nil`) or off.
    public func setLendPolicy(keepFree: ByteCount?, chunk: ByteCount? = nil, timeLimit: Duration? = nil) {
        lending.keepFree = keepFree
        if let chunk { lending.chunk = chunk }
        if let timeLimit { lending.timeLimit = timeLimit }
    }

    /// Whether the `--lend-idle` policy is on.
    public var lendsIdleMemory: Bool { lending.keepFree != nil }

    /// Makes a device of `request.size` from whole free memory blocks of devdax region `request.region` and gives it
    /// to the host: onlined movable through `kmem`. The device is persisted (as `lent`) before the kernel gets it, so
    /// a crash leaves it lent again at the next start, never half-recorded.
    public func lend(_ request: LendRequest, by caller: Caller = .daemon) async throws -> DeviceInfo {
        try policy.requireAdministrator(caller, to: "lend memory to the host")
        let size = request.size
        let name = request.name
        let region = try model.region(request.region)
        try region.requireSound(to: "lend memory")
        let backend = try backendFor(region.config.backend)
        guard let lender = backend as? any MemoryLending, region.config.backend == .devdax else {
            throw PoolError.invalidRequest(
                "region \(region.config.id) is a \(region.config.backend) region: only devdax memory can be lent to "
                    + "the host (kmem takes dax devices)")
        }
        let block = try lender.memoryBlockSize()
        guard size.rawValue > 0, size.rawValue % block.rawValue == 0 else {
            let down = size.rawValue - size.rawValue % block.rawValue
            throw PoolError.invalidRequest(
                "size \(size.rawValue) is not a whole number of memory blocks: the kernel hot-adds memory in blocks "
                    + "of \(block.rawValue) bytes (\(block.humanDescription), /sys/devices/system/memory/"
                    + "block_size_bytes), so lend a multiple of that, such as \(down > 0 ? down : block.rawValue)")
        }
        let base = region.config.base ?? 0
        guard
            let extents = LendPlan.extents(
                for: size, free: region.allocator.freeExtents, base: base, blockSize: block)
        else {
            let aligned = LendPlan.blockAlignedFree(region.allocator.freeExtents, base: base, blockSize: block)
            throw PoolError.allocation(
                .insufficientSpace(
                    requested: size,
                    available: ByteCount(aligned.reduce(0) { $0 + $1.length.rawValue }),
                    largestFreeExtent: aligned.map(\.length).max() ?? .zero))
        }
        let record = try await makeLent(
            region: region, extents: extents, name: name, owner: caller.uid, backend: backend, lender: lender)
        logger.info("lent device to the host", metadata: ["device": "\(record.id)", "size": "\(size)"])
        return info(for: record, in: try model.region(record.id.region))
    }

    /// Takes lent memory back: `request.device`, or the fewest lent devices of `request.region` holding at least
    /// `request.size` bytes. Each is offlined (the kernel migrates the host's pages out), released by `kmem`, zeroed,
    /// and its memory freed in the region. A device whose offline does not finish within the time limit stays
    /// fully lent and the error says why.
    public func reclaim(_ request: ReclaimRequest, by caller: Caller = .daemon) async throws -> ReclaimResponse {
        try policy.requireAdministrator(caller, to: "reclaim memory lent to the host")
        let clock = ContinuousClock()
        let started = clock.now
        let timeLimit =
            request.timeLimitMilliseconds.map { Duration.milliseconds(Int64(clamping: $0)) }
            ?? lending.timeLimit
        let devices: [DeviceID]
        switch (request.device, request.region, request.size) {
        case (let reference?, nil, nil):
            let record = try model.resolveDevice(reference.text)
            try requireLent(record)
            devices = [record.id]
        case (nil, let regionID?, let size?):
            _ = try model.region(regionID)
            let lent = model.lentDevices(in: regionID).filter { !lending.busy.contains($0.id) }
            guard let chosen = LendPlan.reclaimChoice(lent: lent, needed: size) else {
                throw PoolError.invalidRequest(
                    "region \(regionID) has \(lent.reduce(0) { $0 + $1.size.rawValue }) bytes lent to the host, "
                        + "less than the \(size.rawValue) asked for: reclaim at most that, or name a device")
            }
            devices = chosen
        default:
            throw PoolError.invalidRequest("reclaim takes a device, or a region and a size (reclaim -r R SIZE)")
        }
        var size: UInt64 = 0
        for id in devices {
            size += try await reclaimDevice(id, timeLimit: timeLimit)
        }
        let elapsed = clock.now - started
        return ReclaimResponse(
            reclaimed: devices.map(\.description), size: size,
            milliseconds: UInt64(elapsed.components.seconds) * 1000
                + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000))
    }

    /// The policy's step: lends whole free blocks of each sound devdax region beyond `keepFree`, in devices of
    /// `chunk` bytes. Does nothing when the policy is off.
    public func lendIdle() async {
        guard let keepFree = lending.keepFree, lending.creating == 0 else { return }
        for id in model.regionIDs {
            guard let region = model.regions[id], region.config.backend == .devdax, region.degraded == nil,
                let backend = try? backendFor(.devdax), let lender = backend as? any MemoryLending,
                let block = try? lender.memoryBlockSize()
            else { continue }
            let base = region.config.base ?? 0
            let lendable = LendPlan.lendable(
                free: region.allocator.freeExtents, base: base, blockSize: block, keepFree: keepFree)
            for size in LendPlan.chunks(of: lendable, chunk: lending.chunk, blockSize: block) {
                guard lending.creating == 0, let current = model.regions[id],
                    let extents = LendPlan.extents(
                        for: size, free: current.allocator.freeExtents, base: base, blockSize: block)
                else { break }
                do {
                    let record = try await makeLent(
                        region: current, extents: extents, name: nil, owner: policy.daemonUID, backend: backend,
                        lender: lender)
                    logger.info(
                        "lent idle memory to the host (--lend-idle)",
                        metadata: ["device": "\(record.id)", "size": "\(size)"])
                } catch {
                    logger.warning("could not lend idle memory to the host: \(error)", metadata: ["region": "\(id)"])
                    break
                }
            }
        }
    }

    /// Under the policy, takes back the lent memory a create of `size` in `regionID` (or the first region) needs,
    /// showing the reclaim's progress as kind `reclaim`.
    func reclaimForCreate(region regionID: Int?, size: ByteCount, by caller: Caller) async throws {
        guard lending.keepFree != nil else { return }
        lending.creating += 1
        defer { lending.creating -= 1 }
        let id = try regionID ?? model.targetRegion(nil, size: size)
        guard let region = model.regions[id], region.config.backend == .devdax else { return }
        let available = region.allocator.availableSize
        guard available < size else { return }
        let lent = model.lentDevices(in: id).filter { !lending.busy.contains($0.id) }
        let needed = ByteCount(size.rawValue - available.rawValue)
        guard let chosen = LendPlan.reclaimChoice(lent: lent, needed: needed), !chosen.isEmpty else { return }
        logger.info(
            "a new device needs memory lent to the host: reclaiming it",
            metadata: ["devices": "\(chosen.map(\.description))", "bytes": "\(needed)"])
        for device in chosen {
            _ = try await reclaimDevice(device, timeLimit: lending.timeLimit)
        }
    }

    // MARK: - Steps

    private func requireLent(_ record: DeviceRecord) throws {
        guard record.state == .lent else {
            throw PoolError.invalidRequest(
                "\(record.id) is not lent to the host (it is \(record.state.rawValue)): there is nothing to reclaim")
        }
        if lending.busy.contains(record.id) { throw PoolError.deviceBusy(record.id) }
    }

    /// Provisions a device over `extents`, persists it as lent, then lends it in the kernel; a failed lend destroys
    /// the device (zeroing it) and persists that.
    private func makeLent(
        region: RegionState, extents: [Extent], name: DeviceName?, owner: UInt32, backend: any MemoryBackend,
        lender: any MemoryLending
    ) async throws -> DeviceRecord {
        let config = region.config
        let instance = try backend.claimDeviceInstance(in: config, proposed: region.nextInstance)
        var next = model
        let record = try next.lendDevice(
            region: config.id, extents: extents, instance: instance, uuid: LabelUUID.random(using: &generator),
            name: name, owner: owner)
        try store.check(next.snapshot)
        let size = ByteCount(extents.reduce(0) { $0 + $1.length.rawValue })
        try backend.provisionDevice(record.id, size: size, extents: extents, align: record.align, in: config)
        do {
            try await persist(next)
        } catch {
            try? backend.destroyDevice(record.id, in: config)
            throw error
        }
        lending.busy.insert(record.id)
        defer { lending.busy.remove(record.id) }
        let hub = progress
        let operation = hub.start(
            .lend, region: config.id, device: record.id, uuid: record.uuid, name: record.name, total: size, owner: owner
        )
        do {
            try await Self.offActor {
                try lender.lend(record.id, in: config) { done, _ in hub.update(operation, done: done) }
            }
            hub.finish(operation)
        } catch {
            hub.finish(operation, failure: "\(error)")
            logger.error("lending failed; the device is destroyed again", metadata: ["device": "\(record.id)"])
            try? await Self.offActor { try backend.destroyDevice(record.id, in: config) }
            var undo = model
            if (try? undo.returnLent(record.id)) != nil { try? await persist(undo) }
            throw error
        }
        return record
    }

    /// Reclaims one lent device; returns its size.
    private func reclaimDevice(_ id: DeviceID, timeLimit: Duration) async throws -> UInt64 {
        let record = try model.device(id)
        try requireLent(record)
        let region = try model.region(id.region)
        let config = region.config
        let backend = try backendFor(config.backend)
        guard let lender = backend as? any MemoryLending else {
            throw PoolError.invalidRequest("region \(config.id) cannot lend memory")
        }
        let size = region.allocator.size(of: id.instance)
        lending.busy.insert(id)
        defer { lending.busy.remove(id) }
        let hub = progress
        let operation = hub.start(
            .reclaim, region: config.id, device: id, uuid: record.uuid, name: record.name, total: size,
            owner: record.owner)
        do {
            try await Self.offActor {
                try lender.reclaim(id, in: config, timeLimit: timeLimit) { done, _ in hub.update(operation, done: done)
                }
            }
        } catch {
            hub.finish(operation, failure: "\(error)")
            logger.warning("reclaim did not finish; the device stays lent", metadata: ["device": "\(id)"])
            throw error
        }
        do {
            // It held host data: zeroed before the kernel's dax bus takes the memory back.
            try await Self.offActor { try backend.destroyDevice(id, in: config) }
        } catch {
            hub.finish(operation, failure: "\(error)")
            logger.error(
                "a reclaimed device could not be zeroed and released; it is lent again",
                metadata: ["device": "\(id)", "error": "\(error)"])
            try? await Self.offActor { try lender.lend(id, in: config) { _, _ in } }
            throw error
        }
        var next = model
        try next.returnLent(id)
        try await persist(next)
        hub.finish(operation)
        logger.info("reclaimed device from the host", metadata: ["device": "\(id)", "size": "\(size)"])
        return size.rawValue
    }

    /// The kernel's view of a lent device (online blocks, zone), when the backend can tell.
    func lendStatus(of record: DeviceRecord, in region: RegionState) -> LendStatus? {
        guard let lender = try? backendFor(region.config.backend) as? any MemoryLending else { return nil }
        return lender.lendStatus(record.id, in: region.config)
    }
}

extension DeviceInfo {
    /// The device as `daxctl list` shows one in system-ram mode, when `status` is given (a lent device): `mode`
    /// `system-ram`, `movable`, `online_memblocks` and `total_memblocks`; no path a VMM could open.
    func lent(_ status: LendStatus?) -> DeviceInfo {
        guard state == .lent else { return self }
        var info = self
        info.mode = "system-ram"
        info.path = nil
        info.movable = status?.movable
        info.onlineMemblocks = status?.onlineBlocks ?? 0
        info.totalMemblocks = status?.totalBlocks
        return info
    }
}
