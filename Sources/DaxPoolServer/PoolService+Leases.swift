import DaxPoolAPI
import DaxPoolCore
import Dispatch
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Leases: processes holding a device, and what happens when they exit.
extension PoolService {
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

    func stopWatchingIfUnleased(_ pid: Int32) {
        if !model.leases.contains(where: { $0.lease.pid == pid }) { watcher?.stopWatching(pid: pid) }
    }

    /// After a start: keeps the persisted leases whose holder still runs (same pid and start time) and watches
    /// them again; drops the rest.
    func revalidateLeases() {
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
}
