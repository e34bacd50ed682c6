/// The one device of a static dax region (a pmem namespace in devdax mode) as the running kernel has it, and where
/// the copy of the region's layout (`LiveUpdateArea`) lives in it.
///
/// A static region has no room outside its device, so the copy takes the device's last `LiveUpdateArea.size`
/// bytes, and daxpool keeps the device's last `reservedTail` bytes (the area rounded up to the device's alignment,
/// which every devdax mapping must respect) from what it hands a VMM (`usableSize`). The device's owner can still
/// write that tail, so a copy read back from it is only as trustworthy as the tenant: a damaged one fails its
/// checksums, and `problems(_:)` refuses one that claims anything the kernel's own device does not show.
public struct StaticDaxDevice: Hashable, Sendable {
    /// The region id R of `daxR.N`.
    public var region: Int
    /// The device's instance N (the namespace's device: 0).
    public var instance: Int
    /// The physical address of the region's first byte.
    public var base: UInt64
    /// The region's size in bytes (`dax_region/size`).
    public var regionSize: UInt64
    /// The device's size in bytes.
    public var size: UInt64
    /// The device's alignment (the namespace's).
    public var align: UInt64
    /// The device's ranges as region offsets, in page-offset order.
    public var ranges: [Extent]

    /// - Parameters:
    ///   - region: the region id.
    ///   - instance: the device's instance number.
    ///   - base: the region's physical start.
    ///   - regionSize: the region's size.
    ///   - size: the device's size.
    ///   - align: the device's alignment.
    ///   - ranges: the device's ranges as region offsets, in page-offset order.
    public init(
        region: Int, instance: Int, base: UInt64, regionSize: UInt64, size: UInt64, align: UInt64, ranges: [Extent]
    ) {
        self.region = region
        self.instance = instance
        self.base = base
        self.regionSize = regionSize
        self.size = size
        self.align = align
        self.ranges = ranges
    }

    /// The bytes at the end of a static region's device that daxpool keeps for the layout's copy: one area, rounded
    /// up to the device's alignment. `nil` when the device is not larger than that (it then holds no copy and all
    /// of it is the VMM's), or the alignment is not a power of two.
    public static func reservedTail(deviceSize: UInt64, align: UInt64) -> UInt64? {
        let area = UInt64(LiveUpdateArea.size)
        guard align > 0, align & (align - 1) == 0 else { return nil }
        let tail = max(area, align)
        guard deviceSize > tail, deviceSize % align == 0 else { return nil }
        return tail
    }

    /// The bytes daxpool keeps at the end of this device, `nil` when it holds no copy.
    public var reservedTail: UInt64? { Self.reservedTail(deviceSize: size, align: align) }

    /// The bytes from the device's start a VMM may use: its size without the reserved tail.
    public var usableSize: UInt64? { reservedTail.map { size - $0 } }

    /// The device offset of the area (its last `LiveUpdateArea.size` bytes), `nil` when it holds no copy.
    public var areaOffset: UInt64? { reservedTail.map { _ in size - UInt64(LiveUpdateArea.size) } }

    /// What a layout of this region claims that the region cannot have: a static region has the kernel's one device,
    /// over the kernel's ranges at the kernel's alignment, and nothing else. A copy read from the device's tail
    /// (which its tenant can write) is checked with this before it is used; so is what a prepare writes there.
    ///
    /// Checked: the region's backend, id, base, size, alignment and page size against the kernel's, no pool and no
    /// doubt; at most one device, which is `daxR.N` of the kernel's device with exactly its ranges and alignment and
    /// not lent (system-ram); bad blocks inside the region; no pending scrub beside a device, and none outside the
    /// region. Names, uuids, owners and leases are not the kernel's to say: those the tenant could change.
    /// - Returns: one sentence per claim, empty when the layout fits the region.
    public func problems(_ layout: RegionSnapshot) -> [String] {
        var result: [String] = []
        let config = layout.config
        if config.backend != .devdax { result.append("a \(config.backend) region, not devdax") }
        if config.id != region { result.append("region id \(config.id), not \(region)") }
        if config.base != base {
            result.append("region base \(config.base.map(hex) ?? "-"), not \(hex(base))")
        }
        if config.size.rawValue != regionSize {
            result.append("region size \(config.size.rawValue), not \(regionSize)")
        }
        if config.align.rawValue != align || config.pageSize.rawValue != align {
            result.append(
                "region alignment \(config.align.rawValue) and page size \(config.pageSize.rawValue), not \(align)")
        }
        if !config.pool.isEmpty { result.append("a pool of \(config.pool.count) files") }
        if layout.degraded != nil { result.append("a region in doubt") }
        if layout.devices.count > 1 {
            result.append("\(layout.devices.count) devices, where the kernel has one (dax\(region).\(instance))")
        }
        for device in layout.devices {
            let name = device.record.id.description
            if device.record.id != DeviceID(region: region, instance: instance) {
                result.append("device \(name), where the kernel's is dax\(region).\(instance)")
            }
            if device.extents != ranges {
                result.append(
                    "\(name) over \(device.extents.map(\.description)), where the kernel's device spans "
                        + "\(ranges.map(\.description))")
            }
            if device.record.align.rawValue != align {
                result.append("\(name) aligned to \(device.record.align.rawValue), not \(align)")
            }
            if device.record.state == .lent { result.append("\(name) lent to the kernel (system-ram)") }
        }
        let outside = layout.badBlocks.filter { !fits($0) }
        if !outside.isEmpty { result.append("bad blocks outside the region: \(outside.map(\.description))") }
        let scrubbed = layout.pendingScrubs.flatMap(\.extents)
        if !scrubbed.isEmpty, !layout.devices.isEmpty {
            result.append("pending scrubs beside a device that spans the whole region")
        } else if scrubbed.contains(where: { !fits($0) }) {
            result.append("pending scrubs outside the region")
        }
        return result
    }

    /// Whether `extent` lies inside the region.
    private func fits(_ extent: Extent) -> Bool {
        let (end, overflow) = extent.start.rawValue.addingReportingOverflow(extent.length.rawValue)
        return !overflow && end <= regionSize
    }

    private func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
