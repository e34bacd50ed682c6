/// Why the pool refused an operation. Each message says what to do.
public enum PoolError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownRegion(Int)
    case unknownDevice(String)
    case noRegion
    case regionExists(Int)
    /// A new region's `path` is the directory of region `region` (`regionPath`), lies inside it, or around it.
    case regionPathConflict(path: String, overlap: RegionPathOverlap, region: Int, regionPath: String)
    case regionNotEmpty(Int, devices: [DeviceID])
    case scrubPending(Int, bytes: ByteCount)
    /// The region's persisted state is in doubt (`reasons`), so it takes no change that moves memory.
    case regionDegraded(Int, reasons: [String], action: String)
    /// The region's lost+found holds memory no device owned: destroying the region would free it.
    case regionHoldsLostFiles(Int, names: [String])
    /// Region `region` cannot shrink to `size`: `holders` (devices, memory waiting to be zeroed, bad blocks) hold
    /// memory past it; `smallest` is the least it can shrink to.
    case regionTailInUse(Int, size: ByteCount, holders: [String], smallest: ByteCount)
    case duplicateName(String, holder: DeviceID)
    case duplicateUUID(LabelUUID, holder: DeviceID)
    case alignmentTooSmall(Alignment, pageSize: Alignment)
    case alignmentTooLarge(Alignment, regionAlign: Alignment)
    case deviceEnabled(DeviceID, operation: String)
    /// The device is still being created.
    case deviceBusy(DeviceID)
    case deviceLeased(DeviceID, holders: [Lease], operation: String)
    case leaseExists(DeviceID, pid: Int32)
    case noLease(DeviceID, pid: Int32)
    case allocation(AllocationError)
    case invalidLayout(String)
    case invalidRequest(String)

    /// What went wrong and what to do about it, for error bodies and the CLI.
    public var description: String {
        switch self {
        case .unknownRegion(let id):
            "region \(id) does not exist: run 'daxpool list -R' to see the regions"
        case .unknownDevice(let name):
            "device '\(name)' does not exist: run 'daxpool list' to see the devices"
        case .noRegion:
            "there is no region to allocate from: create one with 'daxpool create-region'"
        case .regionExists(let id):
            "region \(id) already exists"
        case .regionPathConflict(let path, let overlap, let region, let regionPath):
            switch overlap {
            case .same:
                "path \(path) is already the directory of region \(region): choose another path"
            case .inside:
                "path \(path) lies inside \(regionPath), the directory of region \(region): choose a path outside it"
            case .around:
                "path \(path) holds \(regionPath), the directory of region \(region): choose a path that neither "
                    + "is nor contains another region's directory"
            }
        case .regionNotEmpty(let id, let devices):
            "region \(id) still has devices (\(devices.map(\.description).joined(separator: ", "))): destroy them first"
        case .scrubPending(let id, let bytes):
            "region \(id) is still zeroing \(bytes.rawValue) bytes of destroyed devices' memory: wait until it is done "
                + "('daxpool progress --follow' shows it), then try again"
        case .regionDegraded(let id, let reasons, let action):
            "region \(id) is degraded (\(reasons.joined(separator: "; "))), so daxpool will not \(action) in it: "
                + RegionDoubt.remedy(region: id)
        case .regionHoldsLostFiles(let id, let names):
            "region \(id)'s lost+found holds memory no device owned (\(names.joined(separator: ", "))): look at it, "
                + "move or delete those files yourself, then destroy the region"
        case .regionTailInUse(let id, let size, let holders, let smallest):
            "region \(id) cannot shrink to \(size.rawValue) bytes: \(holders.joined(separator: ", ")) "
                + "\(holders.count == 1 ? "holds" : "hold") memory past that size, and a shrink only gives back free "
                + "memory at the end. Destroy or shrink those first, or shrink the region to no less than "
                + "\(smallest.rawValue) bytes"
        case .duplicateName(let name, let holder):
            "name '\(name)' is already used by \(holder): choose another name"
        case .duplicateUUID(let uuid, let holder):
            "uuid \(uuid) is already used by \(holder): choose another uuid or omit it"
        case .alignmentTooSmall(let align, let pageSize):
            "alignment \(align) is smaller than the region's page size \(pageSize): use -a \(pageSize) or larger"
        case .alignmentTooLarge(let align, let regionAlign):
            "alignment \(align) is larger than the region supports (\(regionAlign))"
        case .deviceBusy(let id):
            "\(id) is still being created: wait for its create to answer, then try again"
        case .deviceEnabled(let id, let operation):
            "\(id) is enabled: run 'daxpool disable-device \(id)' before you \(operation) it, or pass -f"
        case .deviceLeased(let id, let holders, let operation):
            "\(id) is leased by \(holders.map(\.description).joined(separator: ", ")): stop the holder or run "
                + "'daxpool detach \(id) --pid \(holders.first?.pid ?? 0)' before you \(operation) it, or pass --force "
                + "to revoke the lease"
        case .leaseExists(let id, let pid):
            "pid \(pid) already holds a lease on \(id)"
        case .noLease(let id, let pid):
            "pid \(pid) holds no lease on \(id): run 'daxpool list -d \(id)' to see its leases"
        case .allocation(let error):
            error.description
        case .invalidLayout(let why):
            "invalid layout: \(why)"
        case .invalidRequest(let why):
            why
        }
    }
}
