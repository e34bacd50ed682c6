// Linux only.
import SystemPackage

/// The libnvdimm bus, `/sys/bus/nd`: discovery of regions, namespaces and claim devices, and the single-attribute
/// stores ndctl makes to turn a namespace into a devdax namespace (`ndctl/namespace.c`, `ndctl/lib/libndctl.c`).
public struct SysfsNdBus: Sendable {
    /// Typed access to the sysfs tree the bus lives in.
    public let attributes: SysfsAttributes

    /// `bus/nd/devices`: links to regions, namespaces, claim devices and buses.
    public static let devicesDirectory: FilePath = "bus/nd/devices"
    /// `bus/nd/drivers`: `nd_pmem`, `dax_pmem`, `nd_btt`, `nd_region`...
    public static let driversDirectory: FilePath = "bus/nd/drivers"

    /// The libnvdimm bus of the sysfs tree `access`.
    public init(_ access: any SysfsAccess) {
        self.attributes = SysfsAttributes(access)
    }

    /// The `namespaceN.M` that `path` ends in (`/sys/bus/nd/devices/namespace1.0`, or the bare name), or `nil`.
    public static func namespaceName(inPath path: String) -> String? {
        guard let last = FilePath(path).lastComponent?.string, last.hasPrefix("namespace") else { return nil }
        let parts = last.dropFirst("namespace".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else { return nil }
        return last
    }

    // MARK: - Discovery

    /// Every nd region in id order (empty when libnvdimm is not loaded).
    public func regions() throws(SysfsError) -> [SysfsNdRegion] {
        guard attributes.exists(Self.devicesDirectory) else { return [] }
        var regions: [SysfsNdRegion] = []
        for name in try attributes.entries(Self.devicesDirectory) where Self.number(after: "region", in: name) != nil {
            regions.append(try region(at: try attributes.resolve(Self.devicesDirectory.appending(name)), name: name))
        }
        return regions.sorted { $0.id < $1.id }
    }

    /// The region `regionN`, or `nil`.
    public func region(named name: String) throws(SysfsError) -> SysfsNdRegion? {
        let link = Self.devicesDirectory.appending(name)
        guard Self.number(after: "region", in: name) != nil, attributes.exists(link) else { return nil }
        return try region(at: try attributes.resolve(link), name: name)
    }

    /// The region whose directory is `path`.
    public func region(at path: FilePath, name: String) throws(SysfsError) -> SysfsNdRegion {
        var namespaces: [SysfsNdNamespace] = []
        var claims: [SysfsNdClaim] = []
        for entry in try attributes.entries(path) {
            let child = path.appending(entry)
            if entry.hasPrefix("namespace") {
                namespaces.append(try namespace(at: child, name: entry))
            } else if ["dax", "pfn", "btt"].contains(where: { entry.hasPrefix($0) }),
                attributes.exists(child.appending("devtype"))
            {
                claims.append(try claim(at: child, name: entry))
            }
        }
        let badBlocks = (attributes.optionalText(path.appending("badblocks")) ?? "")
            .split(separator: "\n")
            .compactMap { line -> SysfsNdRegion.BadBlock? in
                let fields = line.split(separator: " ")
                guard fields.count == 2, let sector = UInt64(fields[0]), let count = UInt64(fields[1]) else {
                    return nil
                }
                return SysfsNdRegion.BadBlock(sector: sector, count: count)
            }
        return SysfsNdRegion(
            name: name,
            id: Self.number(after: "region", in: name) ?? -1,
            path: path,
            devtype: text(path.appending("devtype")),
            nstype: try attributes.optionalSigned(path.appending("nstype")),
            size: try attributes.unsigned(path.appending("size")),
            align: try attributes.optionalUnsigned(path.appending("align")),
            availableSize: try attributes.optionalUnsigned(path.appending("available_size")),
            maxAvailableExtent: try attributes.optionalUnsigned(path.appending("max_available_extent")),
            badBlocks: badBlocks,
            resource: try attributes.optionalUnsigned(path.appending("resource")),
            namespaceSeed: text(path.appending("namespace_seed")),
            daxSeed: text(path.appending("dax_seed")),
            pfnSeed: text(path.appending("pfn_seed")),
            bttSeed: text(path.appending("btt_seed")),
            numaNode: try attributes.optionalSigned(path.appending("numa_node")),
            targetNode: try attributes.optionalSigned(path.appending("target_node")),
            persistenceDomain: text(path.appending("persistence_domain")),
            namespaces: namespaces.sorted { $0.name < $1.name },
            claims: claims.sorted { $0.name < $1.name }
        )
    }

    /// The namespace whose directory is `path`.
    public func namespace(at path: FilePath, name: String) throws(SysfsError) -> SysfsNdNamespace {
        SysfsNdNamespace(
            name: name,
            path: path,
            devtype: text(path.appending("devtype")),
            nstype: try attributes.optionalSigned(path.appending("nstype")),
            mode: text(path.appending("mode")),
            size: try attributes.optionalUnsigned(path.appending("size")) ?? 0,
            resource: try attributes.optionalUnsigned(path.appending("resource")),
            holder: text(path.appending("holder")),
            holderClass: text(path.appending("holder_class")),
            uuid: text(path.appending("uuid")),
            alternateName: text(path.appending("alt_name")),
            driver: try driver(of: path),
            numaNode: try attributes.optionalSigned(path.appending("numa_node"))
        )
    }

    /// The claim device whose directory is `path`.
    public func claim(at path: FilePath, name: String) throws(SysfsError) -> SysfsNdClaim {
        SysfsNdClaim(
            name: name,
            path: path,
            devtype: text(path.appending("devtype")),
            mode: text(path.appending("mode")),
            align: try attributes.optionalUnsigned(path.appending("align")),
            namespace: text(path.appending("namespace")),
            uuid: text(path.appending("uuid")),
            supportedAlignments: (text(path.appending("supported_alignments")) ?? "")
                .split(separator: " ").compactMap { UInt64($0) },
            driver: try driver(of: path),
            size: try? attributes.optionalUnsigned(path.appending("size")),
            resource: try? attributes.optionalUnsigned(path.appending("resource"))
        )
    }

    /// The namespace `namespaceN.M` and its region, or `nil`.
    public func namespace(named name: String) throws(SysfsError) -> (
        namespace: SysfsNdNamespace, region: SysfsNdRegion
    )? {
        let link = Self.devicesDirectory.appending(name)
        guard attributes.exists(link) else { return nil }
        let path = try attributes.resolve(link)
        guard let regionName = path.removingLastComponent().lastComponent?.string,
            let region = try region(named: regionName), let namespace = region.namespace(named: name)
        else { return nil }
        return (namespace, region)
    }

    // MARK: - Stores (one write each)

    /// Writes the device name to `bus/nd/drivers/<driver>/bind`.
    public func bind(_ name: String, to driver: String) throws(SysfsError) {
        try attributes.write(Self.driversDirectory.appending(driver).appending("bind"), name)
    }

    /// Writes the device name to `bus/nd/drivers/<driver>/unbind`.
    public func unbind(_ name: String, from driver: String) throws(SysfsError) {
        try attributes.write(Self.driversDirectory.appending(driver).appending("unbind"), name)
    }

    /// Writes `holder_class` of a disabled, unclaimed namespace: `dax`, `pfn`, `btt` or empty.
    public func setHolderClass(_ namespace: SysfsNdNamespace, _ holderClass: String) throws(SysfsError) {
        try attributes.write(namespace.path.appending("holder_class"), holderClass + "\n")
    }

    /// Writes the claim's `uuid` (the info block's UUID).
    public func setUUID(_ claim: SysfsNdClaim, _ uuid: String) throws(SysfsError) {
        try attributes.write(claim.path.appending("uuid"), uuid + "\n")
    }

    /// Writes the claim's `mode`: `pmem` (memmap in the namespace, ndctl `--map=dev`) or `ram`.
    public func setMode(_ claim: SysfsNdClaim, _ mode: String) throws(SysfsError) {
        try attributes.write(claim.path.appending("mode"), mode + "\n")
    }

    /// Writes the claim's `align` in bytes (one of `supported_alignments`).
    public func setAlign(_ claim: SysfsNdClaim, _ bytes: UInt64) throws(SysfsError) {
        try attributes.write(claim.path.appending("align"), "\(bytes)\n")
    }

    /// Writes the claim's `namespace`: the namespace to claim, or `nil` to let it go.
    public func setNamespace(_ claim: SysfsNdClaim, _ namespace: String?) throws(SysfsError) {
        try attributes.write(claim.path.appending("namespace"), (namespace ?? "") + "\n")
    }

    // MARK: - Helpers

    private func text(_ path: FilePath) -> String? {
        guard let value = attributes.optionalText(path)?.trimmingSpaces(), !value.isEmpty else { return nil }
        return value
    }

    private func driver(of path: FilePath) throws(SysfsError) -> String? {
        guard attributes.exists(path.appending("driver")) else { return nil }
        return try attributes.resolve(path.appending("driver")).lastComponent?.string
    }

    /// N of `<prefix>N` (`region3` -> 3).
    static func number(after prefix: String, in name: String) -> Int? {
        guard name.hasPrefix(prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }
}
