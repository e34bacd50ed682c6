// Linux only.
import DaxPoolCore
import SystemPackage

/// The dax bus, `/sys/bus/dax`: discovery of regions and devices, and the single-attribute stores that libdaxctl
/// makes, in libdaxctl's formats (`daxctl/lib/libdaxctl.c`). Each store is one `write(2)`; sequencing them is the
/// job of `DevDaxBackend`.
public struct SysfsDaxBus: Sendable {
    /// Typed access to the sysfs tree the bus lives in.
    public let attributes: SysfsAttributes

    /// `bus/dax/devices`: one link per dax device to its canonical directory.
    public static let devicesDirectory: FilePath = "bus/dax/devices"
    /// `bus/dax/drivers/device_dax`: binding here makes `/dev/daxR.N` usable.
    public static let deviceDaxDriver: FilePath = "bus/dax/drivers/device_dax"

    /// The dax bus of the sysfs tree `access`.
    public init(_ access: any SysfsAccess) {
        self.attributes = SysfsAttributes(access)
    }

    // MARK: - Discovery

    /// Every dax region in id order, each with its devices.
    public func regions() throws(SysfsError) -> [SysfsDaxRegion] {
        var parents: [FilePath] = []
        for name in try deviceNames() {
            let parent = try attributes.resolve(Self.devicesDirectory.appending(name)).removingLastComponent()
            if !parents.contains(parent) { parents.append(parent) }
        }
        var regions: [SysfsDaxRegion] = []
        for parent in parents { regions.append(try region(at: parent)) }
        return regions.sorted { $0.id < $1.id }
    }

    /// The region with `dax_region/id` == `id`, or `nil`.
    public func region(id: Int) throws(SysfsError) -> SysfsDaxRegion? {
        for name in try deviceNames() {
            guard let device = DaxPoolCore.DeviceID(parsing: name), device.region == id else { continue }
            let parent = try attributes.resolve(Self.devicesDirectory.appending(name)).removingLastComponent()
            let region = try region(at: parent)
            if region.id == id { return region }
        }
        return nil
    }

    /// The region provided by the device directory `parent` (root-relative), with `dax_region/` inside it.
    public func region(at parent: FilePath) throws(SysfsError) -> SysfsDaxRegion {
        let group = parent.appending("dax_region")
        let id = try attributes.unsigned(group.appending("id"))
        var devices: [SysfsDaxDevice] = []
        for name in try attributes.entries(parent) {
            guard name.hasPrefix("dax"), let deviceID = DaxPoolCore.DeviceID(parsing: name),
                UInt64(deviceID.region) == id, attributes.exists(parent.appending(name).appending("size"))
            else { continue }
            devices.append(try device(at: parent.appending(name), name: name, id: deviceID))
        }
        let available = try attributes.optionalUnsigned(group.appending("available_size"))
        return SysfsDaxRegion(
            id: Int(id),
            path: parent,
            size: try attributes.unsigned(group.appending("size")),
            align: try attributes.unsigned(group.appending("align")),
            availableSize: available,
            seed: nonEmpty(attributes.optionalText(group.appending("seed"))),
            youngest: nonEmpty(attributes.optionalText(group.appending("create"))),
            parentResource: try attributes.optionalUnsigned(parent.appending("resource")),
            devices: devices.sorted { $0.id < $1.id }
        )
    }

    /// The device `daxR.N` from its canonical directory `path`.
    public func device(at path: FilePath, name: String, id: DaxPoolCore.DeviceID) throws(SysfsError) -> SysfsDaxDevice {
        var mappings: [SysfsDaxMapping] = []
        for entry in try attributes.entries(path) {
            guard entry.hasPrefix("mapping"), let index = Int(entry.dropFirst("mapping".count)) else { continue }
            let directory = path.appending(entry)
            mappings.append(
                SysfsDaxMapping(
                    index: index,
                    start: try attributes.unsigned(directory.appending("start")),
                    end: try attributes.unsigned(directory.appending("end")),
                    pageOffset: try attributes.unsigned(directory.appending("page_offset"))
                )
            )
        }
        let driver: String?
        if attributes.exists(path.appending("driver")) {
            driver = try attributes.resolve(path.appending("driver")).lastComponent?.string
        } else {
            driver = nil
        }
        return SysfsDaxDevice(
            name: name,
            id: id,
            path: path,
            size: try attributes.unsigned(path.appending("size")),
            align: try attributes.optionalUnsigned(path.appending("align")),
            driver: driver,
            mappings: mappings.sorted { $0.pageOffset < $1.pageOffset },
            resource: try attributes.optionalUnsigned(path.appending("resource")),
            targetNode: try attributes.optionalSigned(path.appending("target_node")),
            numaNode: try attributes.optionalSigned(path.appending("numa_node")),
            acceptsMappings: attributes.exists(path.appending("mapping"))
        )
    }

    /// The device named `name` (`daxR.N`), or `nil` when the bus has no such device.
    public func device(named name: String) throws(SysfsError) -> SysfsDaxDevice? {
        guard let id = DaxPoolCore.DeviceID(parsing: name) else { return nil }
        let link = Self.devicesDirectory.appending(name)
        guard attributes.exists(link) else { return nil }
        return try device(at: try attributes.resolve(link), name: name, id: id)
    }

    /// The names in `bus/dax/devices` (empty when the dax bus is not loaded).
    public func deviceNames() throws(SysfsError) -> [String] {
        guard attributes.exists(Self.devicesDirectory) else { return [] }
        return try attributes.entries(Self.devicesDirectory)
    }

    // MARK: - Stores (one write each)

    /// Writes `1` to `dax_region/create`: the kernel adds a zero-sized device and, if the region has no seed,
    /// makes it the seed. `ENOSPC` when `available_size` is 0.
    public func createDevice(in region: SysfsDaxRegion) throws(SysfsError) {
        try attributes.write(region.path.appending("dax_region/create"), "1")
    }

    /// Writes the device name to `dax_region/delete`. Only a zero-sized, unbound device may go (`EBUSY`
    /// otherwise, and always for `daxR.0`); `ENXIO` for an unknown name.
    public func deleteDevice(_ name: String, in region: SysfsDaxRegion) throws(SysfsError) {
        try attributes.write(region.path.appending("dax_region/delete"), name)
    }

    /// Writes `size` as `"%#llx\n"`. The device must be unbound (`EBUSY`), the size a multiple of
    /// `max(align, 2 MiB)` (`EINVAL`) and growth within `available_size` (`ENOSPC`). Shrinking trims from the last
    /// mapping backwards.
    public func setSize(_ device: SysfsDaxDevice, _ bytes: UInt64) throws(SysfsError) {
        try attributes.write(device.path.appending("size"), SysfsAttributes.hex(bytes) + "\n")
    }

    /// Writes `align` as `"%#lx\n"`: 4 KiB, 2 MiB or 1 GiB, every mapping's length a multiple of it (`EINVAL`),
    /// device unbound (`EBUSY`).
    public func setAlign(_ device: SysfsDaxDevice, _ bytes: UInt64) throws(SysfsError) {
        try attributes.write(device.path.appending("align"), SysfsAttributes.hex(bytes) + "\n")
    }

    /// Writes `"%#llx-%#llx\n"` (physical, `last` inclusive) to `mapping`: the kernel claims exactly that free range
    /// of the region and appends it as the device's next mapping.
    public func addMapping(_ device: SysfsDaxDevice, start: UInt64, last: UInt64) throws(SysfsError) {
        try attributes.write(
            device.path.appending("mapping"),
            SysfsAttributes.hex(start) + "-" + SysfsAttributes.hex(last) + "\n"
        )
    }

    /// Writes the name to `bus/dax/drivers/device_dax/bind`: `/dev/daxR.N` appears. `ENXIO` for a zero-sized
    /// device.
    public func bind(_ name: String) throws(SysfsError) {
        try attributes.write(Self.deviceDaxDriver.appending("bind"), name)
    }

    /// Writes the name to `bus/dax/drivers/device_dax/unbind`: `/dev/daxR.N` goes away and every existing mapping
    /// of it faults with `SIGBUS`.
    public func unbind(_ name: String) throws(SysfsError) {
        try attributes.write(Self.deviceDaxDriver.appending("unbind"), name)
    }

    private func nonEmpty(_ text: String?) -> String? {
        guard let text = text?.trimmingSpaces(), !text.isEmpty else { return nil }
        return text
    }
}
