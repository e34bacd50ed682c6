import DaxPoolAPI
import DaxPoolCore
import Dispatch
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// What the service answers without changing anything: regions and devices as the API shows them.
extension PoolService {
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
        for id in model.regionIDs where only == nil || only?.region == id {
            guard let region = model.regions[id], let backend = backends[region.config.backend] else { continue }
            // One device is looked up, not found among all of them (a destroy asks for its device only).
            let records = only.map { one in region.devices[one.instance].map { [$0] } ?? [] } ?? region.settledDevices
            for record in records where !region.provisional.contains(record.id.instance) {
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
}
