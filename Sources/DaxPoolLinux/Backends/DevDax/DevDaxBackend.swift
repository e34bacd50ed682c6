// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Logging
import SystemPackage

/// Real Linux device-dax, driven through sysfs the way libdaxctl drives it (`linux-dax-abi.md` §2, §3.2).
///
/// A daxpool region adopts one kernel dax region; its id is the kernel's dax region id and region offset 0 is the
/// region's first physical byte (`RegionConfig.base`). daxpool's allocator chooses every range and writes it to the
/// kernel's `mapping` attribute, so the kernel holds exactly the layout daxpool persisted, and a layout is rebuilt
/// exactly after a reboot (the kernel forgets sub-device layouts). After every change the kernel's
/// `mappingN/{start,end,page_offset}` are read back and compared with what daxpool asked for.
///
/// - Dynamic regions (soft-reserved/hmem, CXL RAM): devices are created through `dax_region/create`, sized through
///   `mapping` and `size`, and deleted through `dax_region/delete`.
/// - Static regions (a pmem namespace in devdax mode): the namespace fixes a single device `daxR.0` covering the
///   whole region; daxpool can hand out only that device, whole.
///
/// Every call needs root: sysfs stores and the `mappingN/` attributes are root-only.
public struct DevDaxBackend: MemoryBackend {
    /// `devdax`.
    public var kind: BackendKind { .devdax }

    let bus: SysfsDaxBus
    let namespaces: SysfsNdBus
    let deviceDirectory: FilePath
    let logger: Logger
    let watcher: DeviceMemoryWatcher?
    /// Whether memory is zeroed before the kernel takes it back (`scrub`); off only for tests on a fake bus, which
    /// has no device nodes to map.
    let scrubsReleasedMemory: Bool
    /// Zeroes released memory with non-temporal stores.
    let scrubber: Scrubber
    /// Threads a scrub may use.
    let scrubThreads: Int

    /// The minimum mapping granularity of a device instance: one memory subsection (`memremap_compat_align()` on
    /// x86-64). Every mapping's start and length must be a multiple of it, whatever the device alignment.
    public static let subsection = Alignment.page2M

    /// - Parameters:
    ///   - sysfs: the kernel's `/sys`, or a test tree or fake.
    ///   - deviceDirectory: where the kernel's `daxR.N` character devices appear.
    ///   - logger: receives what `reconcile` repairs.
    ///   - watcher: keeps the daemon's own mapping of every enabled device, so that the kernel's memory-failure
    ///     handling signals the daemon (`nil`: none).
    ///   - scrubsReleasedMemory: zero a device's memory before a destroy or shrink gives it back (`false` only for
    ///     tests on a fake bus).
    ///   - scrubber: zeroes released memory (non-temporal stores, skipping poisoned pages).
    ///   - scrubThreads: threads a scrub may use (default: all online CPUs, at most 4).
    public init(
        sysfs: any SysfsAccess = Sysfs(),
        deviceDirectory: FilePath = "/dev",
        logger: Logger = Logger(label: "daxpool.devdax"),
        watcher: DeviceMemoryWatcher? = nil,
        scrubsReleasedMemory: Bool = true,
        scrubber: Scrubber = Scrubber(),
        scrubThreads: Int = min(4, Scrubber.onlineProcessorCount)
    ) {
        self.bus = SysfsDaxBus(sysfs)
        self.namespaces = SysfsNdBus(sysfs)
        self.deviceDirectory = deviceDirectory
        self.logger = logger
        self.watcher = watcher
        self.scrubsReleasedMemory = scrubsReleasedMemory
        self.scrubber = scrubber
        self.scrubThreads = max(1, scrubThreads)
    }

    // MARK: - Regions

    /// Adopts the kernel dax region `request.id`. `request.size` 0 takes the kernel's size; any other size must be
    /// the kernel's. `request.path`, when it names an nd namespace (`/sys/bus/nd/devices/namespaceN.M`), first turns
    /// that namespace into a devdax namespace aligned to `request.pageSize`, as `ndctl create-namespace -f -e
    /// namespaceN.M -m devdax -a A` does.
    ///
    /// - Returns: the kernel's size and target node, `path` = the sysfs directory of the device that provides the
    ///   region, `base` = its physical start, and:
    ///   - dynamic regions: `pageSize` 2M (or `request.pageSize` if larger), because the kernel allocates device
    ///     memory in whole subsections (`alloc_is_aligned`: `max(align, memremap_compat_align())`, 2 MiB on x86-64)
    ///     and `memremap_pages` needs subsection-aligned starts, so a 4 KiB-granular layout could never be
    ///     written; `align` 1G when the region starts on a 1 GiB boundary (device alignment is per device and the
    ///     kernel accepts 1G on any dynamic region whose mappings are 1 GiB multiples), else 2M;
    ///   - static regions: `pageSize` = `align` = the region's alignment, the only one its device can have.
    /// - Throws: `BackendRefusal` (`noSuchDaxRegion`, `noSuchNamespace`) naming the regions or namespaces the kernel
    ///   has when it has no such region or namespace; `BackendError`: `EBUSY` when a dynamic region's devices
    ///   already hold memory (daxpool must own the whole region), `EINVAL` for a size or alignment the region cannot
    ///   have.
    public func createRegion(_ request: RegionConfig) throws -> RegionConfig {
        let operation = "create-region"
        if let namespace = SysfsNdBus.namespaceName(inPath: request.path) {
            if let missing = try missingNamespaceMessage(namespace, operation: operation) {
                throw BackendRefusal(
                    .noSuchNamespace,
                    missing + ": give one of them in --path /sys/bus/nd/devices/namespaceN.M, or omit --path")
            }
            try convertNamespace(namespace, regionID: request.id, align: request.pageSize, operation: operation)
        }
        guard let region = try findRegion(request.id, operation: operation) else {
            let known = try knownRegionIDs(operation: operation)
            throw BackendRefusal(
                .noSuchDaxRegion,
                "the kernel has no dax region \(request.id)"
                    + (known.isEmpty
                        ? ": it has no dax regions at all. Load dax_hmem and device_dax, or put a pmem namespace in "
                            + "devdax mode (--path /sys/bus/nd/devices/namespaceN.M)"
                        : " (dax regions: \(known.map(String.init).joined(separator: ", "))): choose one of them with "
                            + "--dax-region; daxctl list -R lists them")
            )
        }
        let path = bus.attributes.access.absolute(region.path)
        guard request.size.rawValue == 0 || request.size.rawValue == region.size else {
            throw BackendError(
                operation, path, .invalidArgument,
                "dax region \(region.id) is \(ByteCount(region.size).spelledOut) (\(region.size) bytes): "
                    + "omit --size to adopt it whole, or give exactly \(region.size)"
            )
        }
        if let node = request.targetNode, let kernelNode = region.targetNode, node != kernelNode {
            throw BackendError(
                operation, path, .invalidArgument,
                "dax region \(region.id) is memory of NUMA node \(kernelNode), not \(node): omit --node "
                    + "or adopt a region of node \(node) (daxctl list -R -D shows target_node)"
            )
        }
        let base = try physicalStart(of: region, operation: operation)
        var config = RegionConfig(
            id: region.id,
            backend: .devdax,
            size: ByteCount(region.size),
            align: .page2M,
            pageSize: .page2M,
            targetNode: region.targetNode,
            path: path.string,
            base: base
        )
        if region.isDynamic {
            if let busy = region.devices.first(where: { $0.size > 0 }) {
                throw BackendError(
                    operation, path, .resourceBusy,
                    "dax region \(region.id) already has devices holding memory "
                        + region.devices.filter { $0.size > 0 }.map { "\($0.name) (\(ByteCount($0.size).spelledOut))" }
                        .joined(separator: ", ")
                        + ": daxpool adopts only a region that no device holds. Stop their users, then "
                        + (busy.id.instance == 0
                            ? "daxctl disable-device \(busy.name) && daxctl reconfigure-device -s 0 \(busy.name)"
                            : "daxctl destroy-device -f \(busy.name)")
                        + " (daxR.0 cannot be deleted, only emptied)"
                )
            }
            let pageSize = max(Self.subsection, request.pageSize)
            guard base % pageSize.rawValue == 0 else {
                throw BackendError(
                    operation, path, .invalidArgument,
                    "dax region \(region.id) starts at \(SysfsAttributes.hex(base)), which is not "
                        + "\(pageSize)-aligned: ask for a smaller --page-size (device memory comes in 2 MiB "
                        + "subsections aligned to the region start)"
                )
            }
            let usable = ByteCount(region.size).roundedDown(to: pageSize)
            guard usable.rawValue > 0 else {
                throw BackendError(
                    operation, path, .invalidArgument,
                    "dax region \(region.id) is \(ByteCount(region.size).spelledOut), smaller than one \(pageSize) "
                        + "page: there is nothing to hand out"
                )
            }
            config.size = usable
            config.pageSize = pageSize
            config.align = Alignment.all.last { $0 >= pageSize && base % $0.rawValue == 0 } ?? pageSize
        } else {
            guard let align = Alignment(rawValue: region.align) else {
                throw BackendError(
                    operation, path, .invalidArgument,
                    "dax region \(region.id) has alignment \(region.align), which daxpool does not support: "
                        + "reconfigure the namespace with 4K, 2M or 1G (ndctl create-namespace -f -e NAMESPACE "
                        + "-m devdax -a 2M)"
                )
            }
            guard region.devices.count == 1, let only = region.devices.first,
                only.mappings.map(DevDaxRange.init) == [DevDaxRange(start: base, last: base &+ region.size &- 1)]
            else {
                throw BackendError(
                    operation, path, .invalidArgument,
                    "static dax region \(region.id) does not have the single whole-region device a pmem "
                        + "namespace makes: check it with daxctl list -r \(region.id) -M"
                )
            }
            config.align = align
            config.pageSize = align
        }
        return config
    }

    /// Nothing to release: the kernel region stays as it is, emptied by the device destroys before it.
    public func destroyRegion(_ config: RegionConfig) throws(BackendError) {}

    /// `/dev/daxR.N`.
    public func devicePath(_ device: DaxPoolCore.DeviceID, in region: RegionConfig) -> String? {
        deviceDirectory.appending(device.description).string
    }

    // MARK: - Devices

    /// The instance of the kernel's seed device, as `daxctl create-device` takes it: the region's `seed` if it is
    /// an idle (zero-sized, unbound) device, else a new device made by writing `1` to `dax_region/create`. A
    /// static region's only device is its one instance.
    public func claimDeviceInstance(in config: RegionConfig, proposed: Int) throws(BackendError) -> Int {
        let operation = "create-device"
        let region = try requireRegion(config.id, operation: operation)
        guard region.isDynamic else {
            guard let only = region.devices.first else {
                throw BackendError(
                    operation, bus.attributes.access.absolute(region.path), .operationNotSupportedByDevice,
                    "static dax region \(region.id) has no device: re-enable its namespace (ndctl enable-namespace)"
                )
            }
            return only.id.instance
        }
        if let seed = region.seed.flatMap(region.device(named:)), seed.isIdle {
            return seed.id.instance
        }
        do throws(SysfsError) {
            try bus.createDevice(in: region)
        } catch {
            throw failure(error, operation: operation, device: nil, region: region)
        }
        let after = try requireRegion(config.id, operation: operation)
        guard let created = after.youngest.flatMap(after.device(named:)), created.isIdle else {
            throw BackendError(
                operation, bus.attributes.access.absolute(region.path.appending("dax_region/create")), .ioError,
                "wrote 1 to dax_region/create of region \(region.id) but the kernel reports no new idle device "
                    + "(create reads '\(after.youngest ?? "")'): retry, and check daxctl list -r \(region.id) -i"
            )
        }
        return created.id.instance
    }

    /// Binds the device to `device_dax` (enable: `/dev/daxR.N` appears) or unbinds it (disable: the path goes and
    /// existing mappings fault), then checks the `driver` link. Doing it twice is harmless.
    public func setDeviceEnabled(_ device: DaxPoolCore.DeviceID, enabled: Bool, in config: RegionConfig)
        throws(BackendError)
    {
        let operation = enabled ? "enable-device" : "disable-device"
        let region = try requireRegion(config.id, operation: operation)
        let kernel = try requireDevice(device, in: region, operation: operation)
        try setBound(kernel, enabled, region: region, operation: operation)
    }

    /// Gives `/dev/daxR.N` to `uid` with mode 0600. The kernel makes the node anew (root, 0600) every time the
    /// device is bound, so the daemon calls this again after each enable; a disabled device has no node (or one
    /// that answers ENXIO), which is fine.
    public func setDeviceOwner(_ device: DaxPoolCore.DeviceID, uid: UInt32, in config: RegionConfig)
        throws(BackendError)
    {
        let operation = "set-device-owner"
        let path = deviceDirectory.appending(device.description)
        do throws(Errno) {
            let node = try OwnedDescriptor.open(path, .readOnly, options: [.noFollow])
            try node.changeOwner(uid: uid)
            try node.setPermissions(.ownerReadWrite)
        } catch .noSuchFileOrDirectory, .noSuchAddressOrDevice, .operationNotSupportedByDevice {
            // Unbound: no node, or a node with no device behind it (ENXIO); the next enable gives it.
            return
        } catch {
            throw BackendError(operation, path, error, "cannot give \(path) to uid \(uid): \(error)")
        }
    }

    /// Unbinds the device from `device_dax`: the kernel unmaps it from every process, whose next access faults
    /// with `SIGBUS`, as `daxctl disable-device` does before a forced destroy.
    public func revokeDevice(_ device: DaxPoolCore.DeviceID, in config: RegionConfig) throws(BackendError) {
        let operation = "revoke-device"
        let region = try requireRegion(config.id, operation: operation)
        guard let kernel = region.device(instance: device.instance) else { return }
        try setBound(kernel, false, region: region, operation: operation)
    }

    /// Zeroes the device's memory (`scrub`), then, as `daxctl destroy-device -f`: unbind, write size 0, write the name to `dax_region/delete`. `daxR.0` cannot be
    /// deleted and is left zero-sized. In a static region the device is only unbound (the namespace fixes it). A
    /// device the kernel does not have is already gone.
    public func destroyDevice(_ device: DaxPoolCore.DeviceID, in config: RegionConfig) throws(BackendError) {
        let operation = "destroy-device"
        let region = try requireRegion(config.id, operation: operation)
        guard var kernel = region.device(instance: device.instance) else { return }
        if scrubsReleasedMemory, kernel.size > 0 {
            kernel = try scrub(kernel, from: 0, region: region, operation: operation)
        }
        try setBound(kernel, false, region: region, operation: operation)
        guard region.isDynamic else { return }
        if kernel.size > 0 {
            do throws(SysfsError) {
                try bus.setSize(kernel, 0)
            } catch {
                throw failure(error, operation: operation, device: kernel, region: region)
            }
        }
        if device.instance != 0 {
            do throws(SysfsError) {
                try bus.deleteDevice(kernel.name, in: region)
            } catch {
                throw failure(error, operation: operation, device: kernel, region: region)
            }
        }
        let after = try requireRegion(config.id, operation: operation)
        if let left = after.device(instance: device.instance), left.size != 0 || !left.mappings.isEmpty {
            throw BackendError(
                operation, bus.attributes.access.absolute(left.path), .ioError,
                "\(left.name) still holds \(ByteCount(left.size).spelledOut) in the kernel after size 0: "
                    + "check daxctl list -d \(left.name) -M and destroy it again"
            )
        }
    }

    // MARK: - Helpers

    /// The kernel's dax region `id`, or `ENODEV` with the ids that exist.
    func requireRegion(_ id: Int, operation: String) throws(BackendError) -> SysfsDaxRegion {
        if let region = try findRegion(id, operation: operation) { return region }
        let known = try knownRegionIDs(operation: operation)
        throw BackendError(
            operation, bus.attributes.access.absolute(SysfsDaxBus.devicesDirectory), .operationNotSupportedByDevice,
            "the kernel has no dax region \(id)"
                + (known.isEmpty
                    ? " (no dax regions at all: load dax_hmem and device_dax, or put a pmem namespace in devdax mode)"
                    : " (regions: \(known.map(String.init).joined(separator: ", ")))")
                + ": daxctl list -R lists them"
        )
    }

    /// The kernel's dax region `id`, or `nil` when it has none.
    func findRegion(_ id: Int, operation: String) throws(BackendError) -> SysfsDaxRegion? {
        do throws(SysfsError) {
            return try bus.region(id: id)
        } catch {
            throw failure(error, operation: operation, device: nil, region: nil)
        }
    }

    /// The ids of the kernel's dax regions, ascending.
    func knownRegionIDs(operation: String) throws(BackendError) -> [Int] {
        do throws(SysfsError) {
            return try bus.regions().map(\.id).sorted()
        } catch {
            throw failure(error, operation: operation, device: nil, region: nil)
        }
    }

    /// The kernel device for `device`, or `ENODEV`.
    func requireDevice(_ device: DaxPoolCore.DeviceID, in region: SysfsDaxRegion, operation: String)
        throws(BackendError) -> SysfsDaxDevice
    {
        guard let kernel = region.device(instance: device.instance) else {
            throw BackendError(
                operation, bus.attributes.access.absolute(SysfsDaxBus.devicesDirectory.appending(device.description)),
                .operationNotSupportedByDevice,
                "the kernel has no \(device) in dax region \(region.id): restart the daemon so that it rebuilds "
                    + "its devices, or destroy \(device)"
            )
        }
        return kernel
    }

    /// The region's physical start, or `ENXIO`.
    func physicalStart(of region: SysfsDaxRegion, operation: String) throws(BackendError) -> UInt64 {
        guard let base = region.physicalStart else {
            throw BackendError(
                operation, bus.attributes.access.absolute(region.path), .noSuchAddressOrDevice,
                "cannot tell where dax region \(region.id) starts: no device of it is empty or covers it whole, "
                    + "and its provider has no resource attribute. Empty one device (daxctl reconfigure-device "
                    + "-s 0) and retry"
            )
        }
        return base
    }

    /// Binds or unbinds `device_dax`; a device bound to another driver (kmem) is refused.
    func setBound(_ device: SysfsDaxDevice, _ bound: Bool, region: SysfsDaxRegion, operation: String)
        throws(BackendError)
    {
        switch device.driver {
        case "device_dax" where bound, nil where !bound:
            if bound { watch(device) }
            return
        case let driver? where driver != "device_dax":
            throw BackendError(
                operation, bus.attributes.access.absolute(device.path.appending("driver")), .resourceBusy,
                "\(device.name) is bound to \(driver) (system-ram mode), not device_dax: give it back with "
                    + "daxctl reconfigure-device -m devdax -f \(device.name) first"
            )
        default:
            break
        }
        if !bound { watcher?.unwatch(device.id) }
        do throws(SysfsError) {
            if bound { try bus.bind(device.name) } else { try bus.unbind(device.name) }
        } catch {
            throw failure(error, operation: operation, device: device, region: region)
        }
        let after: SysfsDaxDevice?
        do throws(SysfsError) {
            after = try bus.device(named: device.name)
        } catch {
            throw failure(error, operation: operation, device: device, region: region)
        }
        guard (after?.driver == "device_dax") == bound else {
            throw BackendError(
                operation, bus.attributes.access.absolute(device.path.appending("driver")), .ioError,
                "\(device.name) is \(after?.driver.map { "bound to \($0)" } ?? "unbound") after "
                    + "\(bound ? "binding" : "unbinding") device_dax: check dmesg and daxctl list -d \(device.name)"
            )
        }
        if bound, let after { watch(after) }
    }

    /// Maps the bound device `/dev/daxR.N` for the daemon (`DeviceMemoryWatcher`) unless it already is, at its
    /// current size: memory-failure handling signals only processes that map the failed page.
    func watch(_ device: SysfsDaxDevice) {
        guard let watcher, device.size > 0, let length = Int(exactly: device.size) else { return }
        if watcher.mapping(of: device.id)?.length == length { return }
        watcher.watch(device.id, path: deviceDirectory.appending(device.name), size: ByteCount(device.size))
    }
}
