/// Memory of a destroyed device that is waiting to be zeroed. Its extents stay out of the allocator's free space
/// until the scrub is done, so no new device can be given them while they may still hold the last owner's bytes.
/// Pending scrubs are persisted with the region, so a daemon that stops (or crashes) mid-scrub finishes the work
/// on its next start before the extents are free again.
public struct PendingScrub: Hashable, Sendable, Codable {
    /// A number unique in the region while the scrub is pending.
    public var id: UInt64
    /// The device the memory belonged to.
    public var device: DeviceID
    /// Its uuid and name, so that progress reports can name it after it is gone.
    public var deviceUUID: LabelUUID
    /// The device's user-chosen name, when it had one (JSON `device_name`).
    public var deviceName: DeviceName?
    /// The region ranges the memory held, in page-offset order.
    public var extents: [Extent]
    /// The backend's handle of the retired memory (for file backends, the name of the file in the region's pool).
    public var token: String

    /// A pending scrub of `extents`, which device `device` (`deviceUUID`, `deviceName`) held, retired under `token`.
    public init(
        id: UInt64,
        device: DeviceID,
        deviceUUID: LabelUUID,
        deviceName: DeviceName?,
        extents: [Extent],
        token: String
    ) {
        self.id = id
        self.device = device
        self.deviceUUID = deviceUUID
        self.deviceName = deviceName
        self.extents = extents
        self.token = token
    }

    /// The bytes to zero.
    public var size: ByteCount { ByteCount(extents.reduce(0) { $0 + $1.length.rawValue }) }

    enum CodingKeys: String, CodingKey {
        case id, device, extents, token
        case deviceUUID = "device_uuid"
        case deviceName = "device_name"
    }
}
