// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

extension DevDaxBackend {
    /// Turns the pmem namespace `name` (`namespaceN.M`) into a devdax namespace aligned to `align`, as
    /// `ndctl create-namespace -f -e namespaceN.M -m devdax -M dev -a A` does, and returns the static dax region
    /// `N` it makes (one device `daxN.0`, bound to `device_dax`). A namespace that already is devdax at `align` is
    /// left as it is.
    ///
    /// The stores, in ndctl's order: release the current claim (unbind the holder from its driver, clear its
    /// `namespace`), unbind the namespace from `nd_pmem`, set its `holder_class` to `dax`; then on the region's
    /// `dax_seed` set `uuid` (new), `mode` = `pmem` (page metadata in the namespace), `align` and `namespace`, and
    /// bind it to `dax_pmem`, which writes the info block and creates the dax region. On failure the namespace is
    /// given back to `nd_pmem`.
    ///
    /// Any user of the namespace's block device or of its old dax device loses it, as with `ndctl -f`.
    @discardableResult
    public func convertNamespaceToDevDax(_ name: String, align: Alignment) throws(BackendError) -> SysfsDaxRegion {
        let operation = "create-namespace"
        let (namespace, region) = try requireNamespace(name, operation: operation)
        let path = namespaces.attributes.access.absolute(namespace.path)
        guard let regionID = namespace.regionID else {
            throw BackendError(operation, path, .invalidArgument, "\(name) is not a namespaceN.M name")
        }
        if let current = try devDaxState(of: namespace, in: region), current.align == align.rawValue,
            let dax = try? bus.region(id: regionID), dax.align == align.rawValue, !dax.isDynamic
        {
            return dax
        }
        if let seed = region.daxSeed.flatMap(region.claim(named:)), !seed.supportedAlignments.isEmpty,
            !seed.supportedAlignments.contains(align.rawValue)
        {
            throw BackendError(
                operation, path, .invalidArgument,
                "\(region.name) supports devdax alignments \(seed.supportedAlignments.map(String.init)), not "
                    + "\(align.rawValue): choose one of them"
            )
        }

        // Release the namespace.
        try ndStep(operation, path) { () throws(SysfsError) in
            if let holder = namespace.holder.flatMap(region.claim(named:)) {
                if let driver = holder.driver { try namespaces.unbind(holder.name, from: driver) }
                try namespaces.setNamespace(holder, nil)
            }
            if let driver = namespace.driver { try namespaces.unbind(namespace.name, from: driver) }
            // A label-less (io) namespace takes the claim class and then fails the label update with ENXIO.
            do throws(SysfsError) {
                try namespaces.setHolderClass(namespace, "dax")
            } catch {
                guard error.errno == .noSuchAddressOrDevice, namespace.devtype != "nd_namespace_pmem" else {
                    throw error
                }
            }
        }

        // Configure the region's dax seed and bind it.
        let fresh = try requireNamespace(name, operation: operation).region
        guard let seed = fresh.daxSeed.flatMap(fresh.claim(named:)) else {
            giveBack(namespace)
            throw BackendError(
                operation, path, .operationNotSupportedByDevice,
                "\(fresh.name) has no dax_seed: this region cannot hold devdax namespaces (it is not a pmem region, "
                    + "or dax_pmem is not loaded: modprobe dax_pmem)"
            )
        }
        var generator = SystemRandomNumberGenerator()
        let uuid = LabelUUID.random(using: &generator).description
        do throws(BackendError) {
            try ndStep(operation, path) { () throws(SysfsError) in
                try namespaces.setUUID(seed, uuid)
                try namespaces.setMode(seed, "pmem")
                try namespaces.setAlign(seed, align.rawValue)
                try namespaces.setNamespace(seed, name)
                try namespaces.bind(seed.name, to: "dax_pmem")
            }
        } catch {
            try? namespaces.setNamespace(seed, nil)
            giveBack(namespace)
            if error.errno == SystemErrorNumber(.noSuchAddressOrDevice) {
                throw BackendError(
                    operation, path, .noSuchAddressOrDevice,
                    "\(name) cannot hold a devdax namespace aligned to \(align): after its info block and the "
                        + "page-metadata reserve, the namespace (\(ByteCount(namespace.size).spelledOut)) has no "
                        + "\(align)-aligned room (1G needs a namespace well above 1 GiB). Choose a smaller align or "
                        + "a larger namespace; the kernel log (dmesg) has the details"
                )
            }
            throw error
        }
        guard let dax = try? bus.region(id: regionID), !dax.isDynamic, dax.align == align.rawValue else {
            throw BackendError(
                operation, path, .ioError,
                "bound \(seed.name) to dax_pmem for \(name), but the kernel shows no static dax region \(regionID) "
                    + "aligned to \(align): check ndctl list -N -n \(name) and daxctl list -r \(regionID)"
            )
        }
        return dax
    }

    /// Converts `name` for `createRegion`, after checking it makes dax region `regionID`.
    func convertNamespace(_ name: String, regionID: Int, align: Alignment, operation: String) throws(BackendError) {
        let (namespace, _) = try requireNamespace(name, operation: operation)
        guard namespace.regionID == regionID else {
            throw BackendError(
                operation, namespaces.attributes.access.absolute(namespace.path), .invalidArgument,
                "\(name) becomes dax region \(namespace.regionID.map(String.init) ?? "?"), not \(regionID): "
                    + "pass --dax-region \(namespace.regionID.map(String.init) ?? "N")"
            )
        }
        try convertNamespaceToDevDax(name, align: align)
    }

    /// The namespace and its region, or `ENODEV` naming the namespaces that exist.
    func requireNamespace(_ name: String, operation: String) throws(BackendError)
        -> (namespace: SysfsNdNamespace, region: SysfsNdRegion)
    {
        let found: (namespace: SysfsNdNamespace, region: SysfsNdRegion)?
        let known: [String]
        do throws(SysfsError) {
            found = try namespaces.namespace(named: name)
            known = found == nil ? try namespaces.regions().flatMap { $0.namespaces.map(\.name) } : []
        } catch {
            throw failure(error, operation: operation, device: nil, region: nil)
        }
        if let found { return found }
        throw BackendError(
            operation, namespaces.attributes.access.absolute(SysfsNdBus.devicesDirectory.appending(name)),
            .operationNotSupportedByDevice,
            Self.missingNamespaceMessage(name, known: known) + ": ndctl list -N lists them"
        )
    }

    /// `nil` when the kernel has the nd namespace `name`; otherwise says that it does not and which it has.
    func missingNamespaceMessage(_ name: String, operation: String) throws(BackendError) -> String? {
        do throws(SysfsError) {
            guard try namespaces.namespace(named: name) == nil else { return nil }
            return Self.missingNamespaceMessage(
                name, known: try namespaces.regions().flatMap { $0.namespaces.map(\.name) })
        } catch {
            throw failure(error, operation: operation, device: nil, region: nil)
        }
    }

    /// "the kernel has no `name`", with the namespaces it has (`known`) or how to get one.
    static func missingNamespaceMessage(_ name: String, known: [String]) -> String {
        "the kernel has no \(name)"
            + (known.isEmpty
                ? " (no nd namespaces: load nd_pmem/nd_e820 or boot with memmap=nn!ss)"
                : " (namespaces: \(known.sorted().joined(separator: ", ")))")
    }

    /// The namespace's current devdax claim, if it is bound to `dax_pmem`.
    func devDaxState(of namespace: SysfsNdNamespace, in region: SysfsNdRegion) throws(BackendError) -> SysfsNdClaim? {
        guard namespace.mode == "dax", let holder = namespace.holder.flatMap(region.claim(named:)),
            holder.driver == "dax_pmem"
        else { return nil }
        return holder
    }

    /// Runs nd stores, turning a failure into a `BackendError` about `path`.
    func ndStep(_ operation: String, _ path: FilePath, _ body: () throws(SysfsError) -> Void) throws(BackendError) {
        do throws(SysfsError) {
            try body()
        } catch {
            let message: String
            switch error.errno {
            case .resourceBusy:
                message =
                    "\(error): the namespace or its claim device is in use (mounted, open, or claimed by another "
                    + "device): unmount and close it first"
            case .permissionDenied, .notPermitted:
                message = "\(error): converting namespaces needs root"
            default:
                message = "\(error)"
            }
            throw BackendError(operation, FilePath(error.path), error.errno, message)
        }
    }

    /// Best effort: makes `namespace` a plain block device again after a failed conversion.
    func giveBack(_ namespace: SysfsNdNamespace) {
        try? namespaces.setHolderClass(namespace, "")
        try? namespaces.bind(namespace.name, to: "nd_pmem")
        logger.warning(
            "gave a namespace back to nd_pmem after a failed devdax conversion",
            metadata: ["namespace": "\(namespace.name)"])
    }
}
