// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension DevDaxBackend {
    /// `provisionDevice(_:size:extents:align:in:)` for callers that do not pass the alignment: the kernel device's
    /// current alignment when it holds memory, else the region's default (2M, as the kernel's `dax_region/align`).
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        extents: [Extent],
        in config: RegionConfig
    ) throws(BackendError) {
        let region = try requireRegion(config.id, operation: "provision-device")
        var align = max(config.pageSize, min(config.align, .page2M))
        if let kernel = region.device(instance: device.instance), kernel.size > 0,
            let current = kernel.align.flatMap(Alignment.init(rawValue:))
        {
            align = current
        }
        try provisionDevice(device, size: size, extents: extents, align: align, in: config)
    }

    /// Makes the kernel's `daxR.N` hold exactly `extents` (region offsets, in device order) at `align`, following
    /// daxctl's sequence: unbind `device_dax` (the kernel resizes only disabled devices), then the stores of a
    /// `DevDaxLayoutPlan` (`align`, `size` to trim, one `mapping` per new range as `"%#llx-%#llx"`, physical and
    /// inclusive), then bind `device_dax` again if the device was enabled or is new (zero-sized before). The kernel's
    /// `mappingN/` are read back and must equal the request, or the call fails.
    ///
    /// A failure undoes what was stored (the old mappings and alignment are written back and the old binding
    /// restored), so a new device is left zero-sized, as a seed.
    ///
    /// In a static region the only possible layout is the whole region at the region's alignment; the device is
    /// checked and enabled.
    public func provisionDevice(
        _ device: DaxPoolCore.DeviceID,
        size: ByteCount,
        extents: [Extent],
        align: Alignment,
        in config: RegionConfig
    ) throws(BackendError) {
        let operation = "provision-device"
        let region = try requireRegion(config.id, operation: operation)
        let base = try regionBase(config, region, operation: operation)
        var kernel = try requireDevice(device, in: region, operation: operation)
        let wanted = try wantedRanges(
            device, size: size, extents: extents, align: align, base: base, region: region, operation: operation)
        guard region.isDynamic else {
            try provisionStatic(kernel, wanted: wanted, align: align, region: region, operation: operation)
            return
        }
        for (owner, mapping) in region.allocations where owner != kernel.name {
            if let clash = wanted.first(where: { $0.overlaps(DevDaxRange(mapping)) }) {
                throw BackendError(
                    operation, bus.attributes.access.absolute(kernel.path.appending("mapping")), .resourceBusy,
                    "range \(clash) for \(device) is held by \(owner) in the kernel (\(DevDaxRange(mapping))), "
                        + "which daxpool did not give it: restart the daemon to reconcile, or destroy \(owner) "
                        + "(daxctl destroy-device -f \(owner))"
                )
            }
        }
        let wantedBytes = wanted.reduce(UInt64(0)) { $0 + $1.size }
        if scrubsReleasedMemory, wantedBytes < kernel.size {
            // The kernel trims from the end: zero the tail it takes back.
            kernel = try scrub(kernel, from: wantedBytes, region: region, operation: operation)
        }
        let current = kernel.mappings.map(DevDaxRange.init)
        let plan = DevDaxLayoutPlan(
            current: current, currentAlign: kernel.align, wanted: wanted, wantedAlign: align.rawValue)
        let isNew = kernel.size == 0
        if !plan.isEmpty {
            let wasBound = kernel.driver != nil
            if wasBound { try setBound(kernel, false, region: region, operation: operation) }
            do throws(BackendError) {
                try apply(plan, to: kernel, region: region, operation: operation)
                if wasBound || isNew {
                    try setBound(
                        try refreshed(kernel, operation: operation), true, region: region, operation: operation)
                }
                try verify(device, holds: wanted, align: align, region: config.id, operation: operation)
            } catch {
                restore(kernel, ranges: current, align: kernel.align, bound: wasBound, region: region)
                throw error
            }
            return
        }
        if isNew { try setBound(kernel, true, region: region, operation: operation) }
        try verify(device, holds: wanted, align: align, region: config.id, operation: operation)
    }

    // MARK: - Steps

    /// Carries out `plan` on `device`, one store at a time.
    func apply(_ plan: DevDaxLayoutPlan, to device: SysfsDaxDevice, region: SysfsDaxRegion, operation: String)
        throws(BackendError)
    {
        for step in plan.steps {
            do throws(SysfsError) {
                switch step {
                case .setAlign(let bytes): try bus.setAlign(device, bytes)
                case .setSize(let bytes): try bus.setSize(device, bytes)
                case .addMapping(let range): try bus.addMapping(device, start: range.start, last: range.last)
                }
            } catch {
                throw failure(error, operation: operation, device: device, region: region)
            }
        }
    }

    /// Best-effort undo after a failed change: writes `ranges` and `align` back and restores the binding.
    func restore(_ device: SysfsDaxDevice, ranges: [DevDaxRange], align: UInt64?, bound: Bool, region: SysfsDaxRegion) {
        guard let now = try? bus.device(named: device.name) else { return }
        if now.driver != nil { try? bus.unbind(now.name) }
        let plan = DevDaxLayoutPlan(
            current: now.mappings.map(DevDaxRange.init), currentAlign: now.align, wanted: ranges, wantedAlign: align)
        try? apply(plan, to: now, region: region, operation: "undo")
        if bound { try? bus.bind(now.name) }
        logger.warning(
            "undid a failed change of a dax device",
            metadata: ["device": "\(device.name)", "ranges": "\(ranges.map(\.description))"]
        )
    }

    /// Reads the kernel's view of `device` again and fails unless it holds exactly `wanted`, in order, with the
    /// page offsets and alignment daxpool asked for.
    func verify(
        _ device: DaxPoolCore.DeviceID, holds wanted: [DevDaxRange], align: Alignment, region id: Int,
        operation: String
    ) throws(BackendError) {
        let region = try requireRegion(id, operation: operation)
        let kernel = try requireDevice(device, in: region, operation: operation)
        let expected = zip(wanted, DevDaxLayoutPlan.pageOffsets(of: wanted)).map { range, pages in
            "\(range)@\(SysfsAttributes.hex(pages))"
        }
        let held = kernel.mappings.map(\.description)
        let size = wanted.reduce(0) { $0 &+ $1.size }
        guard held == expected, kernel.size == size, kernel.align.map({ $0 == align.rawValue }) ?? true else {
            throw BackendError(
                operation, bus.attributes.access.absolute(kernel.path), .ioError,
                "the kernel holds \(held) (size \(kernel.size), align \(kernel.align.map(String.init) ?? "-")) for "
                    + "\(device) but daxpool asked for \(expected) (size \(size), align \(align.rawValue)): daxpool "
                    + "does not report a layout the kernel does not hold. Restart the daemon to rebuild the device, "
                    + "or destroy it"
            )
        }
    }

    // MARK: - Checks

    /// The physical ranges of `extents`, after checking they add up to `size`, fit the region and keep the kernel's
    /// alignment rules (in a dynamic region, start and length multiples of `max(align, 2 MiB)`).
    func wantedRanges(
        _ device: DaxPoolCore.DeviceID, size: ByteCount, extents: [Extent], align: Alignment, base: UInt64,
        region: SysfsDaxRegion, operation: String
    ) throws(BackendError) -> [DevDaxRange] {
        let path = bus.attributes.access.absolute(region.path)
        guard size.rawValue > 0, !extents.isEmpty else {
            throw BackendError(
                operation, path, .invalidArgument,
                "\(device) would have no memory: a device-dax device needs at least one mapping (destroy it instead)"
            )
        }
        let granule = region.isDynamic ? max(align, Self.subsection) : align
        var total: UInt64 = 0
        var ranges: [DevDaxRange] = []
        for extent in extents {
            guard extent.start.isAligned(to: granule), extent.length.isAligned(to: granule) else {
                throw BackendError(
                    operation, path, .invalidArgument,
                    "mapping \(extent) of \(device) is not \(granule)-aligned: device-dax mappings must start and "
                        + "end on multiples of max(align, 2 MiB); ask for a size that is a multiple of \(granule)"
                )
            }
            guard extent.end.rawValue <= region.size, let range = DevDaxRange(extent, base: base) else {
                throw BackendError(
                    operation, path, .invalidArgument,
                    "mapping \(extent) of \(device) lies outside dax region \(region.id), which is "
                        + "\(ByteCount(region.size).spelledOut)"
                )
            }
            total &+= extent.length.rawValue
            ranges.append(range)
        }
        guard total == size.rawValue else {
            throw BackendError(
                operation, path, .invalidArgument,
                "the mappings of \(device) add up to \(total) bytes but its size is \(size.rawValue): the layout is "
                    + "inconsistent; destroy and recreate the device"
            )
        }
        return ranges
    }

    /// The physical address of region offset 0: the persisted `base`, which must still be where the kernel's
    /// region starts (a moved region would put every persisted range somewhere else).
    func regionBase(_ config: RegionConfig, _ region: SysfsDaxRegion, operation: String) throws(BackendError)
        -> UInt64
    {
        let found = region.physicalStart
        if let persisted = config.base {
            if let found, found != persisted {
                throw BackendError(
                    operation, bus.attributes.access.absolute(region.path), .ioError,
                    "dax region \(region.id) now starts at \(SysfsAttributes.hex(found)), but daxpool adopted it at "
                        + "\(SysfsAttributes.hex(persisted)): its firmware or boot configuration changed, so the "
                        + "persisted layouts do not apply. Destroy the region's devices and the region, then adopt "
                        + "it again"
                )
            }
            return persisted
        }
        return try physicalStart(of: region, operation: operation)
    }

    /// A static region's only layout: the whole region, at the region's alignment. Enables the device.
    func provisionStatic(
        _ kernel: SysfsDaxDevice, wanted: [DevDaxRange], align: Alignment, region: SysfsDaxRegion, operation: String
    ) throws(BackendError) {
        let held = kernel.mappings.map(DevDaxRange.init)
        guard wanted == held, kernel.align.map({ $0 == align.rawValue }) ?? true else {
            throw BackendError(
                operation, bus.attributes.access.absolute(region.path), .invalidArgument,
                "dax region \(region.id) is static (a pmem namespace): its device \(kernel.name) is fixed at "
                    + "\(held.map(\.description)) with align \(kernel.align.map(String.init) ?? "-"), so a device "
                    + "there must take it whole: create-device -r \(region.id) without --size, at the region's "
                    + "align. To carve sub-devices use a dynamic (hmem or CXL) region"
            )
        }
        if kernel.driver == nil { try setBound(kernel, true, region: region, operation: operation) }
    }

    /// The kernel's current view of `device`.
    func refreshed(_ device: SysfsDaxDevice, operation: String) throws(BackendError) -> SysfsDaxDevice {
        do throws(SysfsError) {
            if let now = try bus.device(named: device.name) { return now }
        } catch {
            throw failure(error, operation: operation, device: device, region: nil)
        }
        throw BackendError(
            operation, bus.attributes.access.absolute(device.path), .operationNotSupportedByDevice,
            "\(device.name) disappeared from the dax bus while daxpool was changing it: check daxctl list -i"
        )
    }
}
