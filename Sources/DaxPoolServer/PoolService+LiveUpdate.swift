import DaxPoolAPI
import DaxPoolCore
import Logging
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PoolService {
    /// Prepares a kexec (`POST /v1/live-update/prepare`): for every devdax region, persists its whole layout in the
    /// state directory (`live-update/prepared.json`) and in the region's own memory (`LiveUpdateArea`, the region's
    /// last 2 MiB, held by a kernel device until the next start), and answers with the carve arguments the next
    /// kernel needs.
    ///
    /// A static region (a pmem namespace: one device over the whole region) keeps its copy in the last 2 MiB of its
    /// device, which `list` (`usable_size`) and `qemu-args` keep from VMMs.
    ///
    /// Refused (nothing written), unless `force`: shm and hugetlb devices exist (their memory does not survive a
    /// kexec; the refusal names them), a region's last 2 MiB is held by a device (no room for the copy), a static
    /// region's layout is not its kernel device's (or the device is lent), or the running command line carves a
    /// devdax region only in part. Always refused: a degraded region, a daemon
    /// without a state directory.
    public func prepareLiveUpdate(_ request: LiveUpdatePrepareRequest, by caller: Caller = .daemon) throws
        -> LiveUpdateReport
    {
        try policy.requireAdministrator(caller, to: "prepare a live update")
        guard let liveUpdate else {
            throw RequestError(
                code: .liveUpdateUnavailable, message: "this daemon keeps no state directory")
        }
        let force = request.force ?? false
        let snapshot = model.snapshot
        let lost = snapshot.regions.filter { $0.config.backend == .shm || $0.config.backend == .hugetlb }.flatMap {
            region in
            region.devices.map {
                "\($0.record.id)\($0.record.name.map { " (\($0.value))" } ?? "") in \(region.config.backend) region "
                    + "\(region.config.id)"
            }
        }
        if !lost.isEmpty, !force {
            throw RequestError(
                code: .liveUpdateRefused,
                message: "these devices would lose their memory in the kexec: \(lost.joined(separator: ", ")). shm "
                    + "and hugetlb memory belongs to the running kernel, and a kernel without memory preservation "
                    + "(KHO/memfd preservation) gives it to the next kernel as free RAM. Move their VMs to devdax "
                    + "devices or stop them, or prepare with --force to lose them")
        }
        let carve = KernelCarve(commandLine: liveUpdate.commandLine())
        let memory = backends[.devdax] as? any LiveUpdateMemory
        let sequence =
            (try? liveUpdate.readPrepared()?.sequence).flatMap { $0 }.map { $0 + 1 }
            ?? UInt64(Date().timeIntervalSince1970)
        var records: [LiveUpdateRecord] = []
        var regions: [LiveUpdateRegion] = []
        var problems: [String] = []
        var plans: [(record: LiveUpdateRecord, offset: RegionOffset)] = []
        for region in snapshot.regions where region.config.backend == .devdax {
            let id = region.config.id
            if let doubt = region.degraded {
                throw RequestError(
                    code: .regionDegraded,
                    message: "region \(id) is degraded (\(doubt.reasons.joined(separator: "; "))): recover it before "
                        + "a live update")
            }
            var notes: [String] = []
            var carveArgument: String?
            if let base = region.config.base {
                switch carve.check(start: base, size: region.config.size.rawValue) {
                case .success(let argument): carveArgument = argument
                case .failure(let mismatch):
                    problems.append(
                        "region \(id) (\(hex(base))-\(hex(base + region.config.size.rawValue - 1))): "
                            + mismatch.message)
                }
            }
            let record = LiveUpdateRecord(sequence: sequence, kernelCarve: carve.arguments, region: region)
            records.append(record)
            var entry = LiveUpdateRegion(
                region: id, devices: region.devices.map(\.record.id.description), memoryCopy: false,
                carve: carveArgument)
            if let memory, let fixed = try memory.staticLiveUpdateDevice(region: id) {
                let device = "dax\(id).\(fixed.instance)"
                let claims = fixed.problems(region)
                if let area = fixed.areaOffset, claims.isEmpty {
                    plans.append((record, RegionOffset(area)))
                    entry.areaOffset = area
                    let kept: String = "\((fixed.reservedTail ?? 0) >> 20) MiB"
                    let place: String = "the last 2 MiB of \(device) (device offset \(hex(area)))"
                    notes.append(
                        "a static region (a pmem namespace): the copy is in \(place), whose last \(kept) daxpool keeps "
                            + "from VMMs (usable_size); the device's tenant can write it, so it is only as trustworthy "
                            + "as the tenant")
                } else if !claims.isEmpty {
                    notes.append(
                        "a static region whose layout is not the kernel's \(device) (\(claims.joined(separator: "; "))): "
                            + "no copy in memory, only in the state directory")
                    problems.append("region \(id): \(notes.last ?? "")")
                } else {
                    notes.append(
                        "a static region whose \(device) is too small to give up a tail for a copy: only in the state "
                            + "directory")
                }
            } else if let memory, let offset = try memory.liveUpdateAreaOffset(region: id) {
                let area = Extent(start: offset, length: ByteCount(UInt64(LiveUpdateArea.size)))
                let holders =
                    self.model.regions[id].map { model in
                        model.allocator.occupiedExtents.filter { $0.extent.overlaps(area) }
                    } ?? []
                if holders.isEmpty {
                    plans.append((record, offset))
                    entry.areaOffset = offset.rawValue
                } else {
                    notes.append(
                        "the region's last 2 MiB (region offset \(hex(offset.rawValue))) is held by a device or a "
                            + "quarantined block: no copy in memory, only in the state directory")
                    problems.append("region \(id): \(notes.last ?? "")")
                }
            } else if memory != nil {
                notes.append(
                    "the region is smaller than two subsections: no copy in memory, only in the state directory")
            }
            entry.notes = notes
            regions.append(entry)
        }
        if !problems.isEmpty, !force {
            throw RequestError(
                code: .liveUpdateRefused,
                message: "live update refused: \(problems.joined(separator: "; ")). Fix the command line or the "
                    + "layout, or prepare with --force")
        }
        // The state directory first: a start after a kexec finds the records there even if a memory copy fails.
        do {
            try liveUpdate.writePrepared(
                LiveUpdateState.Prepared(sequence: sequence, kernelCarve: carve.arguments, records: records))
        } catch {
            throw RequestError(
                code: .liveUpdateFailed, message: "cannot write \(liveUpdate.preparedPath): \(error)")
        }
        for (record, _) in plans {
            let id = record.region.config.id
            let bytes = try LiveUpdateArea.encode(
                payload: try LiveUpdateState.payload(record), labels: try LiveUpdateArea.labelBytes(for: record.region),
                sequence: sequence, region: id)
            let holder = try memory?.writeLiveUpdateArea(bytes, region: id)
            if let index = regions.firstIndex(where: { $0.region == id }) {
                regions[index].memoryCopy = true
                regions[index].holder = holder
            }
        }
        let report = LiveUpdateReport(
            state: "prepared", sequence: sequence, regions: regions, lost: lost, kernelArguments: carve.arguments,
            nextSteps: [
                "stop or pause the VMs on devdax devices (QEMU: migrate with x-ignore-shared; see daxpool qemu-args "
                    + "--live-update)",
                "kexec -s -l NEW_KERNEL --initrd=NEW_INITRD --command-line=\"$(cat /proc/cmdline)\" (it must keep "
                    + (carve.arguments.isEmpty
                        ? "the firmware's carve" : carve.arguments.joined(separator: " "))
                    + "; -s: the kernel places the new kernel in its own RAM, while kexec -l without -s places it by "
                    + "/sys/firmware/memmap, where memmap= carves are still RAM, and can overwrite carved memory)",
                "kexec -e; then start daxpool serve on the same state directory: it restores every device",
            ])
        liveUpdate.report.withLock { $0 = report }
        logger.notice(
            "live-update: prepared", metadata: ["sequence": "\(sequence)", "regions": "\(regions.count)"])
        return report
    }

    /// What the last prepare or restore did (`GET /v1/live-update`).
    public func liveUpdateStatus(by caller: Caller = .daemon) throws -> LiveUpdateReport {
        try policy.requireAdministrator(caller, to: "read the live-update status")
        return liveUpdate?.lastReport() ?? LiveUpdateReport(state: "none")
    }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}

extension PoolService {
    /// Reports the restore of a prepared live update once every region is reconciled: `live-update: restored N
    /// devices`, in the log and in `live-update/status.json`.
    func finishLiveUpdate(_ restore: LiveUpdateRestore) {
        let degraded = Set(model.regionIDs.filter { model.regions[$0]?.degraded != nil })
        let report = restore.report(model.snapshot, degraded: degraded)
        liveUpdate?.finishRestore(report)
        logger.notice(
            "live-update: restored \(report.restored ?? 0) devices",
            metadata: [
                "from": "\(report.regions.map { "region \($0.region): \($0.source ?? "-")" }.joined(separator: ", "))",
                "not_restored": "\(report.notRestored)",
                "notes": "\(report.regions.flatMap(\.notes))",
            ])
    }
}

extension PoolService {
    /// The bytes of a devdax device a VMM may use when daxpool keeps its tail: a static region's device (one over
    /// the whole region), whose last 2 MiB hold the copy of the region's layout (`StaticDaxDevice`). `nil` when all
    /// of the device is the VMM's. Only a device over its whole region is asked about, so `list` reads no sysfs for
    /// the devices of dynamic regions.
    func vmmUsableSize(of record: DeviceRecord, in region: RegionState, size: UInt64) -> UInt64? {
        guard region.config.backend == .devdax, let memory = backends[.devdax] as? any LiveUpdateMemory,
            region.allocator.ranges(of: record.id.instance) == [Extent(start: .zero, length: region.config.size)],
            let tail = memory.liveUpdateReservedTail(of: record.id), tail < size
        else { return nil }
        return size - tail
    }
}
