/// What `daxpool live-update prepare` persists for one devdax region, so that the daemon of the next kernel (after a
/// kexec) rebuilds every device exactly: the region's whole persisted state (configuration, devices with their
/// ranges in page-offset order, uuids, names, owners, modes, leases, bad blocks, pending scrubs) and the kernel
/// command-line arguments that carved the memory.
///
/// The record travels twice: in the state directory (`live-update/prepared.json`) and inside the carved memory
/// itself (`LiveUpdateArea`), so the layout survives the loss of either.
public struct LiveUpdateRecord: Hashable, Sendable, Codable {
    /// The record format; 1.
    public var version: Int
    /// Which prepare wrote it: increases with every prepare, so two copies of different prepares are told apart.
    public var sequence: UInt64
    /// The carve arguments (`memmap=`, `efi_fake_mem=`) on the command line of the kernel that prepared.
    public var kernelCarve: [String]
    /// The region as the daemon persisted it when it prepared.
    public var region: RegionSnapshot

    /// - Parameters:
    ///   - sequence: the prepare's sequence number.
    ///   - kernelCarve: the carve arguments of the running kernel.
    ///   - region: the region's persisted state.
    public init(sequence: UInt64, kernelCarve: [String], region: RegionSnapshot) {
        self.version = 1
        self.sequence = sequence
        self.kernelCarve = kernelCarve
        self.region = region
    }

    enum CodingKeys: String, CodingKey {
        case version, sequence, region
        case kernelCarve = "kernel_carve"
    }

    /// The number of devices the record holds.
    public var deviceCount: Int { region.devices.count }

    /// The differences between two persisted states of one region that a restore must not paper over: the
    /// region's identity (id, base, size, alignment), and every device's number, uuid, name, owner, mode, alignment
    /// and ranges in order, its bad blocks and pending scrubs. Leases are not compared: they name processes of the
    /// kernel that prepared. Empty when the layouts agree.
    ///
    /// - Parameters:
    ///   - expected: one copy (the state directory's).
    ///   - found: the other copy (the one in the region's memory).
    /// - Returns: one sentence per difference, naming the device and both values.
    public static func differences(_ expected: RegionSnapshot, _ found: RegionSnapshot) -> [String] {
        var result: [String] = []
        let a = expected.config
        let b = found.config
        if a.id != b.id { result.append("region id \(a.id) against \(b.id)") }
        if a.base != b.base {
            result.append("region base \(a.base.map(String.init) ?? "-") against \(b.base.map(String.init) ?? "-")")
        }
        if a.size != b.size { result.append("region size \(a.size.rawValue) against \(b.size.rawValue)") }
        if a.pageSize != b.pageSize { result.append("region page size \(a.pageSize) against \(b.pageSize)") }
        let left = Dictionary(expected.devices.map { ($0.record.id.instance, $0) }, uniquingKeysWith: { x, _ in x })
        let right = Dictionary(found.devices.map { ($0.record.id.instance, $0) }, uniquingKeysWith: { x, _ in x })
        for instance in Set(left.keys).union(right.keys).sorted() {
            guard let x = left[instance] else {
                result.append(
                    "\(found.devices.first { $0.record.id.instance == instance }?.record.id.description ?? "device \(instance)") is only in the second copy"
                )
                continue
            }
            let name = x.record.id.description
            guard let y = right[instance] else {
                result.append("\(name) is only in the first copy")
                continue
            }
            if x.record.uuid != y.record.uuid {
                result.append("\(name): uuid \(x.record.uuid) against \(y.record.uuid)")
            }
            if x.record.name != y.record.name {
                result.append("\(name): name '\(x.record.name?.value ?? "")' against '\(y.record.name?.value ?? "")'")
            }
            if x.record.owner != y.record.owner {
                result.append(
                    "\(name): owner \(x.record.owner.map(String.init) ?? "-") against "
                        + "\(y.record.owner.map(String.init) ?? "-")")
            }
            if x.record.state != y.record.state {
                result.append("\(name): mode \(x.record.state) against \(y.record.state)")
            }
            if x.record.align != y.record.align {
                result.append("\(name): align \(x.record.align) against \(y.record.align)")
            }
            if x.extents != y.extents {
                result.append("\(name): ranges \(x.extents.map(\.description)) against \(y.extents.map(\.description))")
            }
        }
        if Set(expected.badBlocks) != Set(found.badBlocks) {
            result.append(
                "bad blocks \(expected.badBlocks.map(\.description)) against \(found.badBlocks.map(\.description))")
        }
        if Set(expected.pendingScrubs.flatMap(\.extents)) != Set(found.pendingScrubs.flatMap(\.extents)) {
            result.append("pending scrubs differ")
        }
        return result
    }
}
