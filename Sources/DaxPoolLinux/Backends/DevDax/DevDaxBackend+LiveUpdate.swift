// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import Logging
import SystemPackage

extension DevDaxBackend: LiveUpdateMemory {
    /// The ids of the kernel's dax regions, dynamic and static.
    public func liveUpdateRegionIDs() throws -> [Int] {
        do throws(SysfsError) {
            return try bus.regions().map(\.id).sorted()
        } catch {
            throw failure(error, operation: "live-update", device: nil, region: nil)
        }
    }

    /// The last 2 MiB subsection of the kernel region (its size rounded down to 2 MiB), as a region offset.
    public func liveUpdateAreaOffset(region id: Int) throws -> RegionOffset? {
        let region = try requireRegion(id, operation: "live-update")
        return try areaRange(region).map {
            RegionOffset($0.start - (try physicalStart(of: region, operation: "live-update")))
        }
    }

    /// The kernel's device of static region `id`, `nil` for a dynamic region.
    public func staticLiveUpdateDevice(region id: Int) throws -> StaticDaxDevice? {
        try staticDevice(try requireRegion(id, operation: "live-update"), operation: "live-update")
    }

    /// A static region's one device as the kernel has it (its ranges as region offsets), `nil` for a dynamic region.
    func staticDevice(_ region: SysfsDaxRegion, operation: String) throws(BackendError) -> StaticDaxDevice? {
        guard !region.isDynamic else { return nil }
        guard region.devices.count == 1, let device = region.devices.first else {
            throw BackendError(
                operation, bus.attributes.access.absolute(region.path), .noSuchAddressOrDevice,
                "static dax region \(region.id) has \(region.devices.count) devices, not the one a namespace makes: "
                    + "check it with daxctl list -r \(region.id) -M, and re-enable its namespace")
        }
        let base = try physicalStart(of: region, operation: operation)
        var ranges: [Extent] = []
        for mapping in device.mappings {
            guard mapping.start >= base, mapping.end >= mapping.start else {
                throw BackendError(
                    operation, bus.attributes.access.absolute(device.path), .ioError,
                    "\(device.name) maps \(DevDaxRange(mapping)), which is not inside dax region \(region.id)")
            }
            ranges.append(Extent(start: RegionOffset(mapping.start - base), length: ByteCount(mapping.size)))
        }
        return StaticDaxDevice(
            region: region.id, instance: device.id.instance, base: base, regionSize: region.size, size: device.size,
            align: device.align ?? region.align, ranges: ranges)
    }

    /// The reserved tail of a static region's device, read from the device's own sysfs directory and its region's
    /// attribute group (no walk over the bus); `nil` for a device of a dynamic region or one the kernel lacks.
    public func liveUpdateReservedTail(of device: DaxPoolCore.DeviceID) -> UInt64? {
        guard let directory = try? bus.attributes.resolve(SysfsDaxBus.devicesDirectory.appending(device.description))
        else { return nil }
        let group = directory.removingLastComponent().appending("dax_region")
        guard bus.attributes.exists(group.appending("size")), !bus.attributes.exists(group.appending("available_size")),
            let size = try? bus.attributes.unsigned(directory.appending("size")),
            let align = (try? bus.attributes.optionalUnsigned(directory.appending("align"))).flatMap({ $0 })
                ?? (try? bus.attributes.unsigned(group.appending("align")))
        else { return nil }
        return StaticDaxDevice.reservedTail(deviceSize: size, align: align)
    }

    /// The physical range of the region's area, or `nil` for a static or too small region.
    func areaRange(_ region: SysfsDaxRegion) throws(BackendError) -> DevDaxRange? {
        guard region.isDynamic else { return nil }
        let base = try physicalStart(of: region, operation: "live-update")
        let usable = region.size / UInt64(LiveUpdateArea.size) * UInt64(LiveUpdateArea.size)
        guard usable >= 2 * UInt64(LiveUpdateArea.size) else { return nil }
        let start = base + usable - UInt64(LiveUpdateArea.size)
        return DevDaxRange(start: start, last: start + UInt64(LiveUpdateArea.size) - 1)
    }

    /// Claims an idle kernel device (the seed, or a new one), gives it exactly the area's range and binds it: the
    /// kernel then gives that range to no other device. A holder left by an earlier prepare is used again.
    public func writeLiveUpdateArea(_ bytes: [UInt8], region id: Int) throws -> String {
        let operation = "live-update prepare"
        var region = try requireRegion(id, operation: operation)
        if let fixed = try staticDevice(region, operation: operation) {
            return try writeStaticArea(bytes, fixed, region: region, operation: operation)
        }
        guard let area = try areaRange(region) else {
            throw BackendError(
                operation, bus.attributes.access.absolute(region.path), .operationNotSupportedByDevice,
                "dax region \(id) is static or smaller than two subsections: it cannot hold a copy of its layout")
        }
        var holder = region.devices.first { $0.mappings.map(DevDaxRange.init) == [area] }
        if holder == nil {
            if let user = region.devices.first(where: { $0.mappings.contains { DevDaxRange($0).overlaps(area) } }) {
                throw BackendError(
                    operation, bus.attributes.access.absolute(user.path), .resourceBusy,
                    "\(user.name) holds part of \(area), the last 2 MiB of dax region \(id) where the copy of the "
                        + "layout goes: shrink or move that device, or prepare with --force (no copy in memory)")
            }
            (holder, region) = try mapArea(area, region: id, size: region.size, operation: operation)
        }
        guard let device = holder else { throw BackendError(operation, "/dev", .ioError, "no holder device") }
        try setBound(device, true, region: region, operation: operation)
        try transfer(device.name, write: bytes, operation: operation)
        logger.notice(
            "wrote the layout's copy into the region's memory",
            metadata: ["region": "\(id)", "range": "\(area)", "holder": "\(device.name)"])
        return device.name
    }

    /// Writes the area into the last `LiveUpdateArea.size` bytes of a static region's device (bound for the write
    /// when it was not, and unbound again), through a shared mapping of its reserved tail.
    private func writeStaticArea(_ bytes: [UInt8], _ fixed: StaticDaxDevice, region: SysfsDaxRegion, operation: String)
        throws(BackendError) -> String
    {
        let name = "dax\(fixed.region).\(fixed.instance)"
        guard let tail = fixed.reservedTail, let device = region.device(instance: fixed.instance) else {
            throw BackendError(
                operation, bus.attributes.access.absolute(region.path), .operationNotSupportedByDevice,
                "\(name) (\(ByteCount(fixed.size).spelledOut), align \(fixed.align)) of static dax region "
                    + "\(fixed.region) is too small to give up a tail for a copy of its layout")
        }
        guard device.driver == nil || device.isEnabled else {
            throw BackendError(
                operation, bus.attributes.access.absolute(device.path), .resourceBusy,
                "\(name) is bound to \(device.driver ?? "-") (system-ram): its tail is the kernel's memory now, so "
                    + "no copy of the layout can go there. Give the memory back (daxpool reclaim) or prepare with "
                    + "--force (no copy in memory)")
        }
        let wasBound = device.isEnabled
        if !wasBound { try setBound(device, true, region: region, operation: operation) }
        do {
            try transfer(
                name, write: bytes, window: fixed.size - tail, length: tail, at: Int(tail) - LiveUpdateArea.size,
                operation: operation)
        } catch {
            if !wasBound {
                try? setBound(try refreshed(device, operation: operation), false, region: region, operation: operation)
            }
            throw error
        }
        if !wasBound {
            try setBound(try refreshed(device, operation: operation), false, region: region, operation: operation)
        }
        logger.notice(
            "wrote the layout's copy into the tail of the static region's device",
            metadata: [
                "region": "\(fixed.region)", "device": "\(name)",
                "offset": "\(fixed.areaOffset.map(String.init) ?? "-")",
            ])
        return name
    }

    /// Takes the region's idle seed device and gives it exactly `area` (a holder or a reader of the layout's copy).
    /// - Returns: The device as the kernel now shows it, and the region as read after the claim.
    private func mapArea(_ area: DevDaxRange, region id: Int, size: UInt64, operation: String) throws -> (
        SysfsDaxDevice, SysfsDaxRegion
    ) {
        let instance = try claimDeviceInstance(
            in: RegionConfig(
                id: id, backend: .devdax, size: ByteCount(size), align: .page2M, pageSize: .page2M, path: ""),
            proposed: 0)
        let region = try requireRegion(id, operation: operation)
        let device = try requireDevice(
            DaxPoolCore.DeviceID(region: id, instance: instance), in: region, operation: operation)
        do throws(SysfsError) {
            try bus.addMapping(device, start: area.start, last: area.last)
        } catch {
            throw failure(error, operation: operation, device: device, region: region)
        }
        return (try refreshed(device, operation: operation), region)
    }

    /// Reads the area through the device that maps it: a bound device whose mappings cover it (read at its offset,
    /// left as it is unless it is a holder), a holder (bound for the read), or an idle device given exactly the
    /// range for the read. Holders and the reading device are emptied and deleted afterwards; the memory is only
    /// read.
    public func readLiveUpdateArea(region id: Int) throws -> [UInt8]? {
        let operation = "live-update restore"
        var region = try requireRegion(id, operation: operation)
        if let fixed = try staticDevice(region, operation: operation) {
            // Only through a device the kernel bound (as it does at boot): binding one here would change the kernel.
            guard let tail = fixed.reservedTail, let device = region.device(instance: fixed.instance), device.isEnabled
            else { return nil }
            return try transfer(
                device.name, at: fixed.size - tail, length: tail, from: Int(tail) - LiveUpdateArea.size,
                operation: operation)
        }
        guard let area = try areaRange(region) else { return nil }
        if let covering = region.devices.first(where: { device in
            device.isEnabled
                && device.mappings.contains { DevDaxRange($0).start <= area.start && area.last <= DevDaxRange($0).last }
        }),
            let mapping = covering.mappings.first(where: {
                DevDaxRange($0).start <= area.start && area.last <= DevDaxRange($0).last
            })
        {
            let offset = mapping.pageOffset * 4096 + (area.start - mapping.start)
            let bytes = try transfer(covering.name, at: offset, operation: operation)
            if covering.mappings.map(DevDaxRange.init) == [area] {
                try release(covering, region: region, operation: operation)
            }
            return bytes
        }
        var reader = region.devices.first { $0.mappings.map(DevDaxRange.init) == [area] }
        if reader == nil {
            if region.devices.contains(where: { $0.mappings.contains { DevDaxRange($0).overlaps(area) } }) {
                return nil
            }
            (reader, region) = try mapArea(area, region: id, size: region.size, operation: operation)
        }
        guard let device = reader else { return nil }
        try setBound(device, true, region: region, operation: operation)
        let bytes: [UInt8]
        do {
            bytes = try transfer(device.name, at: 0, operation: operation)
        } catch {
            try? release(try refreshed(device, operation: operation), region: region, operation: operation)
            throw error
        }
        try release(try refreshed(device, operation: operation), region: region, operation: operation)
        return bytes
    }

    /// Unbinds `device`, sets its size to 0 and deletes it (`daxR.0` is only emptied). Its memory is not touched.
    func release(_ device: SysfsDaxDevice, region: SysfsDaxRegion, operation: String) throws(BackendError) {
        try empty(device, region: region, operation: operation)
        if device.id.instance != 0 { try delete(device.name, region: region, operation: operation) }
    }

    /// Copies `bytes` into `/dev/<name>` through a shared mapping of `length` bytes from device offset `window` (both
    /// multiples of the device's alignment), at offset `at` of the mapping; by default its first 2 MiB.
    func transfer(
        _ name: String, write bytes: [UInt8], window: UInt64 = 0, length: UInt64 = UInt64(LiveUpdateArea.size),
        at: Int = 0, operation: String
    ) throws(BackendError) {
        let path = deviceDirectory.appending(name)
        do throws(Errno) {
            let node = try OwnedDescriptor.open(path, .readWrite, options: [.noFollow])
            let mapping = try MemoryMapping(sharing: node, offset: Int64(window), length: Int(length))
            mapping.withUnsafeMutableBytes { buffer in
                let target = UnsafeMutableRawBufferPointer(rebasing: buffer[min(at, buffer.count)...])
                bytes.withUnsafeBytes { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source.prefix(target.count)))
                }
            }
            try mapping.unmap()
        } catch {
            throw BackendError(operation, path, error, "cannot write the layout's copy through \(path): \(error)")
        }
    }

    /// Reads `LiveUpdateArea.size` bytes of `/dev/<name>` through a read-only shared mapping of `length` bytes (by
    /// default just those) from device offset `offset`, starting at offset `from` of the mapping.
    func transfer(
        _ name: String, at offset: UInt64, length: UInt64 = UInt64(LiveUpdateArea.size), from: Int = 0,
        operation: String
    ) throws(BackendError) -> [UInt8] {
        let path = deviceDirectory.appending(name)
        do throws(Errno) {
            let node = try OwnedDescriptor.open(path, .readOnly, options: [.noFollow])
            let mapping = try MemoryMapping(
                sharing: node, offset: Int64(offset), length: Int(length), protection: [.read])
            let bytes = mapping.withUnsafeMutableBytes { buffer in
                Array(UnsafeRawBufferPointer(rebasing: buffer[min(from, buffer.count)...].prefix(LiveUpdateArea.size)))
            }
            try mapping.unmap()
            return bytes
        } catch {
            throw BackendError(operation, path, error, "cannot read the layout's copy through \(path): \(error)")
        }
    }
}
