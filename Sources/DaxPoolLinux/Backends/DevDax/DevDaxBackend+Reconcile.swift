// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension DevDaxBackend {
    /// `reconcile(_:devices:pendingScrubs:mode:)` in `.normal` mode.
    public func reconcile(_ config: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])])
        throws(BackendError)
    {
        _ = try reconcile(config, devices: devices, pendingScrubs: [], mode: .normal)
    }

    /// Makes the kernel's dax region hold the persisted devices after a start, as far as that empties no memory a
    /// record does not account for. After a reboot the kernel has forgotten every sub-device, so each one is
    /// recreated under its own instance number and given exactly its persisted ranges, in page-offset order, at its
    /// alignment, then enabled or left disabled as persisted. After a daemon restart the kernel still holds them,
    /// and nothing is touched: devices whose mappings already match are not even unbound, so VMMs keep running.
    ///
    /// Nothing that holds memory is emptied on doubt, in `.normal` mode either:
    /// - an owned device whose kernel layout differs from its record is left as the kernel has it and reported as a
    ///   doubt (one that holds no memory at all is rebuilt);
    /// - a device daxpool does not own that holds memory is a doubt and left alone, except the kernel's boot-time
    ///   `daxR.0` spanning the whole region while no owned device exists in the kernel yet (a reboot without
    ///   `dax_hmem.region_idle`), which is emptied so that the devices can be rebuilt;
    /// - a missing device whose ranges overlap memory left alone is not recreated (a doubt).
    /// Idle devices daxpool does not own (the seed, an emptied `daxR.0`) are left alone. A device in system-ram mode
    /// is never taken: reconcile fails and says how to release it. In `.keep` mode nothing in the kernel changes.
    ///
    /// Instance numbers come from the kernel (the lowest free id at `dax_region/create`), so to get `daxR.3` while
    /// `daxR.1` and `daxR.2` are free, reconcile creates the two as well and deletes them again.
    public func reconcile(
        _ config: RegionConfig,
        devices: [(record: DeviceRecord, extents: [Extent])],
        pendingScrubs: [PendingScrub],
        mode: ReconcileMode
    ) throws(BackendError) -> ReconcileReport {
        let operation = "reconcile"
        var report = ReconcileReport()
        var region = try requireRegion(config.id, operation: operation)
        try checkIdentity(config, region, operation: operation)
        let base = try regionBase(config, region, operation: operation)
        var wanted: [Int: (record: DeviceRecord, ranges: [DevDaxRange])] = [:]
        for (record, extents) in devices {
            let size = ByteCount(extents.reduce(0) { $0 &+ $1.length.rawValue })
            let ranges = try wantedRanges(
                record.id, size: size, extents: extents, align: record.align, base: base, region: region,
                operation: operation)
            wanted[record.id.instance] = (record, ranges)
        }
        let owned = wanted.keys.sorted()
        guard region.isDynamic else {
            try reconcileStatic(wanted, owned: owned, region: region, mode: mode, report: &report)
            return report
        }

        // 1. Memory held by devices daxpool does not own stays where it is, but for the boot-time daxR.0.
        var held: [(device: String, range: DevDaxRange)] = []
        let ownedInKernel = owned.contains { region.device(instance: $0) != nil }
        for kernel in region.devices where wanted[kernel.id.instance] == nil && kernel.size > 0 {
            if mode == .normal, !ownedInKernel, isBootDevice(kernel, of: region, base: base) {
                try empty(kernel, region: region, operation: operation)
                report.notes.append(
                    "emptied \(kernel.name), the kernel's boot-time device over the whole region, to rebuild the "
                        + "devices")
                logger.notice(
                    "emptied the kernel's boot-time dax device over the whole region",
                    metadata: ["device": "\(kernel.name)", "bytes": "\(kernel.size)"])
                continue
            }
            held += kernel.mappings.map { (kernel.name, DevDaxRange($0)) }
            report.doubts.append(
                "\(kernel.name) holds \(ByteCount(kernel.size).spelledOut) of the region "
                    + "(\(kernel.mappings.map(\.description))) but no daxpool device: left as the kernel has it")
            logger.warning(
                "a dax device daxpool does not own holds memory of the region; left alone",
                metadata: ["device": "\(kernel.name)", "bytes": "\(kernel.size)"])
        }

        // 2. Owned devices whose kernel layout differs are left alone, but for those that hold no memory.
        var rebuild: Set<Int> = []
        var skipped: Set<Int> = []
        for instance in owned {
            guard let (record, ranges) = wanted[instance], let kernel = region.device(instance: instance) else {
                continue
            }
            let plan = DevDaxLayoutPlan(
                current: kernel.mappings.map(DevDaxRange.init), currentAlign: kernel.align, wanted: ranges,
                wantedAlign: record.align.rawValue)
            guard !plan.isEmpty else { continue }
            if mode == .normal, kernel.isIdle {
                rebuild.insert(instance)
                continue
            }
            skipped.insert(instance)
            held += kernel.mappings.map { (kernel.name, DevDaxRange($0)) }
            report.doubts.append(
                "\(kernel.name) holds \(kernel.mappings.map(\.description)) (align "
                    + "\(kernel.align.map(String.init) ?? "-")) but its record says \(ranges.map(\.description)) "
                    + "(align \(record.align.rawValue)): left as the kernel has it")
            logger.warning(
                "a dax device's kernel layout differs from its record; left as the kernel has it",
                metadata: ["device": "\(record.id)"])
        }

        // 3. Missing devices are created under their own instance numbers, unless their memory is held.
        region = try requireRegion(config.id, operation: operation)
        var extras: [String] = []
        for instance in owned where region.device(instance: instance) == nil {
            guard let (record, ranges) = wanted[instance] else { continue }
            guard mode == .normal else {
                skipped.insert(instance)
                report.notes.append("\(record.id) is missing from the kernel; not recreated")
                continue
            }
            if let holder = held.first(where: { item in ranges.contains { $0.overlaps(item.range) } }) {
                skipped.insert(instance)
                report.doubts.append(
                    "\(record.id) is missing from the kernel and cannot be rebuilt: \(holder.device) holds "
                        + "\(holder.range), part of its record's \(ranges.map(\.description))")
                continue
            }
            rebuild.insert(instance)
            var attempts = 0
            while region.device(instance: instance) == nil {
                guard attempts <= instance + owned.count else {
                    throw BackendError(
                        operation, bus.attributes.access.absolute(region.path.appending("dax_region/create")),
                        .ioError,
                        "could not get the kernel to create dax\(region.id).\(instance) after \(attempts) devices: "
                            + "check daxctl list -r \(region.id) -i"
                    )
                }
                attempts += 1
                do throws(SysfsError) {
                    try bus.createDevice(in: region)
                } catch {
                    throw failure(error, operation: operation, device: nil, region: region)
                }
                region = try requireRegion(config.id, operation: operation)
                if let youngest = region.youngest.flatMap(region.device(named:)),
                    wanted[youngest.id.instance] == nil || skipped.contains(youngest.id.instance)
                {
                    extras.append(youngest.name)
                }
            }
        }
        for name in extras { try delete(name, region: region, operation: operation) }

        // 4. Rebuild, 5. bind as persisted, 6. read back (in `.keep` mode: only watch what matches and is bound).
        for instance in owned where !skipped.contains(instance) {
            guard let (record, ranges) = wanted[instance] else { continue }
            region = try requireRegion(config.id, operation: operation)
            let kernel = try requireDevice(record.id, in: region, operation: operation)
            guard mode == .normal else {
                if kernel.isEnabled { watch(kernel) }
                continue
            }
            if rebuild.contains(instance) {
                let plan = DevDaxLayoutPlan(
                    current: kernel.mappings.map(DevDaxRange.init), currentAlign: kernel.align, wanted: ranges,
                    wantedAlign: record.align.rawValue)
                try apply(plan, to: kernel, region: region, operation: operation)
                report.notes.append("rebuilt \(record.id) from its record: \(ranges.map(\.description))")
                logger.notice(
                    "rebuilt a dax device from its persisted layout",
                    metadata: ["device": "\(record.id)", "ranges": "\(ranges.map(\.description))"]
                )
            }
            try settleBinding(try refreshed(kernel, operation: operation), record, region: region, operation: operation)
            try verify(record.id, holds: ranges, align: record.align, region: config.id, operation: operation)
        }
        return report
    }

    /// A static region (a pmem namespace): its one device is bound as persisted when its layout matches the
    /// record; otherwise, or when the kernel lacks it, it is left alone and reported as a doubt.
    private func reconcileStatic(
        _ wanted: [Int: (record: DeviceRecord, ranges: [DevDaxRange])],
        owned: [Int],
        region: SysfsDaxRegion,
        mode: ReconcileMode,
        report: inout ReconcileReport
    ) throws(BackendError) {
        let operation = "reconcile"
        for instance in owned {
            guard let (record, ranges) = wanted[instance] else { continue }
            guard let kernel = region.device(instance: instance) else {
                report.doubts.append(
                    "the kernel has no \(record.id) in static dax region \(region.id): re-enable its namespace")
                continue
            }
            let held = kernel.mappings.map(DevDaxRange.init)
            guard held == ranges, kernel.align.map({ $0 == record.align.rawValue }) ?? true else {
                report.doubts.append(
                    "\(kernel.name) holds \(held.map(\.description)) (align \(kernel.align.map(String.init) ?? "-")) "
                        + "but its record says \(ranges.map(\.description)) (align \(record.align.rawValue)): left "
                        + "as the kernel has it")
                continue
            }
            guard mode == .normal else {
                if kernel.isEnabled { watch(kernel) }
                continue
            }
            try provisionStatic(kernel, wanted: ranges, align: record.align, region: region, operation: operation)
            try setBound(
                try refreshed(kernel, operation: operation), record.state == .enabled, region: region,
                operation: operation)
        }
    }

    /// Whether `kernel` is the device the kernel makes at boot without `dax_hmem.region_idle`: `daxR.0` with one
    /// mapping over the whole region.
    private func isBootDevice(_ kernel: SysfsDaxDevice, of region: SysfsDaxRegion, base: UInt64) -> Bool {
        guard kernel.id.instance == 0, kernel.mappings.count == 1, let only = kernel.mappings.first else {
            return false
        }
        return only.start == base && only.size == region.size && kernel.size == region.size
    }

    /// Checks that the kernel's region `config.id` is still the one daxpool adopted.
    func checkIdentity(_ config: RegionConfig, _ region: SysfsDaxRegion, operation: String) throws(BackendError) {
        let path = bus.attributes.access.absolute(region.path)
        let size = region.isDynamic ? ByteCount(region.size).roundedDown(to: config.pageSize) : ByteCount(region.size)
        guard size == config.size else {
            throw BackendError(
                operation, path, .ioError,
                "dax region \(region.id) is now \(ByteCount(region.size).spelledOut), but daxpool adopted "
                    + "\(config.size.spelledOut): the kernel's regions changed since (boot options, firmware, "
                    + "namespaces), so the persisted layouts do not apply. Put the region back, or remove its "
                    + "devices and the region from daxpool and adopt it again"
            )
        }
        if path.string != config.path {
            logger.warning(
                "dax region is provided by another device than when it was adopted",
                metadata: ["region": "\(region.id)", "was": "\(config.path)", "now": "\(path)"]
            )
        }
    }

    /// Unbinds `device` and sets its size to 0.
    func empty(_ device: SysfsDaxDevice, region: SysfsDaxRegion, operation: String) throws(BackendError) {
        try setBound(device, false, region: region, operation: operation)
        guard device.size > 0 else { return }
        do throws(SysfsError) {
            try bus.setSize(device, 0)
        } catch {
            throw failure(error, operation: operation, device: device, region: region)
        }
    }

    /// Writes `name` to `dax_region/delete`.
    func delete(_ name: String, region: SysfsDaxRegion, operation: String) throws(BackendError) {
        do throws(SysfsError) {
            try bus.deleteDevice(name, in: region)
        } catch {
            throw failure(error, operation: operation, device: region.device(named: name), region: region)
        }
    }
}
