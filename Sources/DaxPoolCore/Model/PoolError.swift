/// Why the pool refused an operation. Each message says what to do.
public enum PoolError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownRegion(Int)
    case unknownDevice(String)
    case noRegion
    case regionExists(Int)
    case regionNotEmpty(Int, devices: [DeviceID])
    case scrubPending(Int, bytes: ByteCount)
    case duplicateName(String, holder: DeviceID)
    case duplicateUUID(LabelUUID, holder: DeviceID)
    case alignmentTooSmall(Alignment, pageSize: Alignment)
    case alignmentTooLarge(Alignment, regionAlign: Alignment)
    case deviceEnabled(DeviceID, operation: String)
    case allocation(AllocationError)
    case invalidLayout(String)
    case invalidRequest(String)

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
        case .regionNotEmpty(let id, let devices):
            "region \(id) still has devices (\(devices.map(\.description).joined(separator: ", "))): destroy them first"
        case .scrubPending(let id, let bytes):
            "region \(id) is still zeroing \(bytes.rawValue) bytes of destroyed devices' memory: wait until it is done "
                + "('daxpool progress --follow' shows it), then try again"
        case .duplicateName(let name, let holder):
            "name '\(name)' is already used by \(holder): choose another name"
        case .duplicateUUID(let uuid, let holder):
            "uuid \(uuid) is already used by \(holder): choose another uuid or omit it"
        case .alignmentTooSmall(let align, let pageSize):
            "alignment \(align) is smaller than the region's page size \(pageSize): use -a \(pageSize) or larger"
        case .alignmentTooLarge(let align, let regionAlign):
            "alignment \(align) is larger than the region supports (\(regionAlign))"
        case .deviceEnabled(let id, let operation):
            "\(id) is enabled: run 'daxpool disable-device \(id)' before you \(operation) it, or pass -f"
        case .allocation(let error):
            error.description
        case .invalidLayout(let why):
            "invalid layout: \(why)"
        case .invalidRequest(let why):
            why
        }
    }
}
