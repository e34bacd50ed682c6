// Linux only.
import DaxPoolCore
import SystemPackage

/// The two names a shm device's file can have in its region directory: `daxR.N` while enabled (the path a VMM
/// opens) and `.daxR.N.disabled` while disabled (hidden, as `/dev/daxR.N` disappears when the kernel unbinds).
struct ShmDeviceFiles {
    let device: DaxPoolCore.DeviceID
    let enabled: FilePath
    let disabled: FilePath

    init(_ device: DaxPoolCore.DeviceID, in directory: FilePath) {
        self.device = device
        enabled = directory.appending(Self.enabledName(device))
        disabled = directory.appending(Self.disabledName(device))
    }

    /// The path the device's file has in `state`.
    func path(for state: DeviceState) -> FilePath {
        state == .enabled ? enabled : disabled
    }

    static func enabledName(_ device: DaxPoolCore.DeviceID) -> String { device.description }

    static func disabledName(_ device: DaxPoolCore.DeviceID) -> String { ".\(device.description).disabled" }

    /// The device a file name in a region directory belongs to, if it is one of the two device-file names.
    static func device(fromFileName name: String) -> DaxPoolCore.DeviceID? {
        var body = Substring(name)
        if body.hasPrefix(".") && body.hasSuffix(".disabled") {
            body = body.dropFirst().dropLast(".disabled".count)
        }
        guard body.hasPrefix("dax"), let device = DaxPoolCore.DeviceID(parsing: String(body)) else { return nil }
        let canonical = [enabledName(device), disabledName(device)]
        return canonical.contains(name) ? device : nil
    }
}
