// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension DevDaxBackend {
    /// Makes the kernel's dax region hold exactly the persisted devices after a start. After a reboot the kernel has
    /// forgotten every sub-device, so each one is recreated under its own instance number and given exactly its
    /// persisted ranges, in page-offset order, at its alignment, then enabled or left disabled as persisted. After a
    /// daemon restart the kernel still holds them, and nothing is touched: devices whose mappings already match are
    /// not even unbound, so VMMs keep running.
    ///
    /// Devices daxpool does not own are left alone while they are idle (zero-sized and unbound, like the seed or an
    /// emptied `daxR.0`); one that holds memory of the adopted region (such as the `daxR.0` the kernel re-creates
    /// over the whole hmem range at boot) is emptied and deleted, because daxpool owns the region. A device in
    /// system-ram mode is never taken: reconcile fails and says how to release it.
    ///
    /// Instance numbers come from the kernel (the lowest free id at `dax_region/create`), so to get `daxR.3` while
    /// `daxR.1` and `daxR.2` are free, reconcile creates the two as well and deletes them again.
    public func reconcile(_ config: RegionConfig, devices: [(record: DeviceRecord, extents: [Extent])])
        throws(BackendError)
    {
        let operation = "reconcile"
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
            for instance in owned {
                guard let (record, ranges) = wanted[instance] else { continue }
                let kernel = try requireDevice(record.id, in: region, operation: operation)
                try provisionStatic(kernel, wanted: ranges, align: record.align, region: region, operation: operation)
                try setBound(
                    try refreshed(kernel, operation: operation), record.state == .enabled, region: region,
                    operation: operation)
            }
            return
        }

        // 1. Memory held by devices daxpool does not own goes back to the region.
        for kernel in region.devices where wanted[kernel.id.instance] == nil && kernel.size > 0 {
            try empty(kernel, region: region, operation: operation)
            if kernel.id.instance != 0 { try delete(kernel.name, region: region, operation: operation) }
            logger.notice(
                "emptied a dax device that daxpool does not own",
                metadata: ["device": "\(kernel.name)", "bytes": "\(kernel.size)"]
            )
        }

        // 2. Owned devices whose kernel layout differs are emptied, to be rebuilt from the persisted ranges.
        var rebuild: Set<Int> = []
        for instance in owned {
            guard let (record, ranges) = wanted[instance], let kernel = region.device(instance: instance) else {
                continue
            }
            let plan = DevDaxLayoutPlan(
                current: kernel.mappings.map(DevDaxRange.init), currentAlign: kernel.align, wanted: ranges,
                wantedAlign: record.align.rawValue)
            guard !plan.isEmpty else { continue }
            try empty(kernel, region: region, operation: operation)
            rebuild.insert(instance)
        }

        // 3. Missing devices are created under their own instance numbers.
        region = try requireRegion(config.id, operation: operation)
        var extras: [String] = []
        for instance in owned where region.device(instance: instance) == nil {
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
                    wanted[youngest.id.instance] == nil
                {
                    extras.append(youngest.name)
                }
            }
        }
        for name in extras { try delete(name, region: region, operation: operation) }

        // 4. Rebuild, 5. bind as persisted, 6. read back.
        for instance in owned {
            guard let (record, ranges) = wanted[instance] else { continue }
            region = try requireRegion(config.id, operation: operation)
            let kernel = try requireDevice(record.id, in: region, operation: operation)
            if rebuild.contains(instance) {
                let plan = DevDaxLayoutPlan(
                    current: kernel.mappings.map(DevDaxRange.init), currentAlign: kernel.align, wanted: ranges,
                    wantedAlign: record.align.rawValue)
                try apply(plan, to: kernel, region: region, operation: operation)
                logger.notice(
                    "rebuilt a dax device from its persisted layout",
                    metadata: ["device": "\(record.id)", "ranges": "\(ranges.map(\.description))"]
                )
            }
            try setBound(
                try refreshed(kernel, operation: operation), record.state == .enabled, region: region,
                operation: operation)
            try verify(record.id, holds: ranges, align: record.align, region: config.id, operation: operation)
        }
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
