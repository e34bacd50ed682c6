// Linux only.
import DaxPoolCore
import SystemPackage

extension DevDaxBackend {
    /// The kernel's `dax_region/align` of the region, as `daxctl list -R` prints it (2 MiB for an hmem region, the
    /// namespace's alignment for a pmem one); the region's page size when the kernel's value cannot be read (the
    /// region is gone, or the daemon is not root).
    public func reportedAlign(of region: RegionConfig) -> UInt64 {
        kernelAlign(region: region.id) ?? region.pageSize.rawValue
    }

    /// The ids of the kernel's dax regions (`/sys/bus/dax/devices/daxR.N`) and nd regions
    /// (`/sys/bus/nd/devices/regionN`, whose devdax namespaces become dax region N): a region of another backend
    /// taking one of them would keep daxpool from adopting that kernel region under its own id. Empty when neither
    /// bus is there.
    public func systemRegionIDs() -> Set<Int> {
        var ids = Set<Int>()
        for name in (try? bus.deviceNames()) ?? [] {
            if let device = DaxPoolCore.DeviceID(parsing: name) { ids.insert(device.region) }
        }
        let ndDevices = SysfsNdBus.devicesDirectory
        if bus.attributes.exists(ndDevices) {
            for name in (try? bus.attributes.entries(ndDevices)) ?? [] where name.hasPrefix("region") {
                let digits = name.dropFirst("region".count)
                if !digits.isEmpty, digits.allSatisfy(\.isNumber), let id = Int(digits) { ids.insert(id) }
            }
        }
        return ids
    }

    /// `dax_region/align` of the kernel's dax region `id`, found through one of its devices' links; `nil` when the
    /// region has no device or the attribute cannot be read.
    func kernelAlign(region id: Int) -> UInt64? {
        for name in (try? bus.deviceNames()) ?? [] {
            guard let device = DaxPoolCore.DeviceID(parsing: name), device.region == id,
                let parent = try? bus.attributes.resolve(SysfsDaxBus.devicesDirectory.appending(name))
                    .removingLastComponent()
            else { continue }
            let group = parent.appending("dax_region")
            guard (try? bus.attributes.unsigned(group.appending("id"))) == UInt64(id) else { continue }
            return try? bus.attributes.unsigned(group.appending("align"))
        }
        return nil
    }
}
