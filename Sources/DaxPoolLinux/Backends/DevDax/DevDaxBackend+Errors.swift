// Linux only.
import DaxPoolCore
import SystemPackage

extension DevDaxBackend {
    /// The one place that turns a failed sysfs read or store into a `BackendError` whose message says what to do:
    /// `EBUSY` (the device is enabled or in use), `ENOSPC` (how much the region has left), `EINVAL` (the alignment
    /// rules), `EACCES` (root only), and the rest with the attribute and errno.
    func failure(_ error: SysfsError, operation: String, device: SysfsDaxDevice?, region: SysfsDaxRegion?)
        -> BackendError
    {
        let path = FilePath(error.path)
        let attribute = path.lastComponent?.string ?? ""
        let name = device?.name ?? "the device"
        let regionText = region.map { "dax region \($0.id)" } ?? "the dax region"
        let message: String
        switch (error.operation, attribute, error.errno) {
        case (_, _, .permissionDenied), (_, _, .notPermitted):
            message =
                "\(error.path) is root-only: the devdax backend must run as root "
                + "(sysfs stores and mappingN/ are mode 0200/0400)"
        case ("parse", _, _):
            message = "\(error): the kernel's sysfs format is not what daxpool expects"
        case ("write", let store, .resourceBusy)
        where ["size", "align", "mapping"].contains(store) && device?.driver != nil:
            message =
                "\(name) is enabled or in use (bound to \(device?.driver ?? "a driver")), and the kernel resizes only "
                + "disabled devices: disable it first (daxpool disable-device \(name)); a device in system-ram mode "
                + "must go back first (daxctl reconfigure-device -m devdax -f \(name))"
        case ("write", "mapping", .resourceBusy), ("write", "mapping", .noMemory):
            message =
                "the kernel refused range \(error.detail) for \(name): part of it is held by another device of "
                + "\(regionText) or lies outside the region\(regionBounds(region)). daxctl list -r "
                + "\(region.map { "\($0.id)" } ?? "R") -M shows who holds what; restart the daemon to reconcile"
        case ("write", "size", .noSpace), ("write", "mapping", .noSpace), ("write", "create", .noSpace):
            message =
                "\(regionText) has \(available(region)) available, not enough for \(name)"
                + (error.detail.isEmpty ? "" : " (\(attribute) \(error.detail))")
                + ": destroy or shrink devices, or ask for less"
        case ("write", "align", .invalidArgument):
            message =
                "the kernel refused align \(error.detail) for \(name): align must be 4K, 2M or 1G, and every mapping's "
                + "length must be a multiple of it (1G needs 1 GiB-multiple mappings)"
        case ("write", "size", .invalidArgument), ("write", "mapping", .invalidArgument):
            message =
                "the kernel refused \(attribute) \(error.detail) for \(name): sizes and mapping lengths must be "
                + "multiples of max(align, 2 MiB) (one memory subsection), and a range must lie in \(regionText)"
                + regionBounds(region)
        case ("write", "mapping", .noSuchAddressOrDevice):
            message =
                "the kernel refused range \(error.detail) for \(name): its length must be a multiple of max(align, "
                + "2 MiB), and \(regionText) must be active (its provider bound)"
        case ("write", "delete", .resourceBusy):
            message =
                "the kernel would not delete \(error.detail): only a disabled, zero-sized device can be deleted, and "
                + "daxR.0 never (it is left empty instead)"
        case ("write", "delete", .noSuchAddressOrDevice):
            message = "\(regionText) has no device \(error.detail) to delete"
        case ("write", "bind", .noSuchAddressOrDevice):
            message =
                "the kernel would not enable \(error.detail): a zero-sized device cannot be enabled; give it memory "
                + "first (daxpool reconfigure-device -s SIZE)"
        case ("write", "bind", _), ("write", "unbind", _):
            message =
                "\(attribute) \(error.detail) on device_dax failed: \(error.errno). Check that device_dax is loaded "
                + "(modprobe device_dax) and that no other driver holds \(error.detail) (daxctl list -d "
                + "\(error.detail))"
        case ("write", _, .noSuchAddressOrDevice):
            message =
                "\(regionText) is not active (its driver is unbound), so \(attribute) cannot change: re-enable the "
                + "region's provider (modprobe dax_hmem, or ndctl enable-namespace)"
        case ("read", _, .noSuchFileOrDirectory), ("list", _, .noSuchFileOrDirectory),
            ("resolve", _, .noSuchFileOrDirectory):
            message =
                "\(error.path) does not exist: the dax bus or this device is gone (modprobe device_dax dax_hmem; "
                + "daxctl list -R -D -i shows what the kernel has)"
        default:
            message = "\(error)"
        }
        return BackendError(operation, path, error.errno, message)
    }

    /// `" (0x140000000-0x17fffffff)"`, or nothing when the region is unknown.
    private func regionBounds(_ region: SysfsDaxRegion?) -> String {
        guard let region, let base = region.physicalStart, region.size > 0 else { return "" }
        return " (\(DevDaxRange(start: base, last: base &+ region.size &- 1)))"
    }

    /// The region's current `available_size` in words.
    private func available(_ region: SysfsDaxRegion?) -> String {
        guard let region else { return "too little" }
        let fresh = (try? bus.region(id: region.id)) ?? region
        return fresh.availableSize.map { ByteCount($0).spelledOut } ?? "nothing (a static region)"
    }
}
