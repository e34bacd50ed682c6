// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

// The quick cases of provisioning and scrubbing, which the daemon runs on the request path instead of handing them
// to another thread: a thread hop costs more than a rename.
extension ShmBackend {
    /// The largest retired file `scrubRetiredAtOnce` looks at: finding a file's data ranges walks its pages, which
    /// for a large file is work for the scrub thread.
    static let atOnceScrubLimit: Int64 = 64 << 20

    /// Finishes the scrub of the file retired under `token` at once when it is at most `atOnceScrubLimit` bytes and
    /// holds nothing to zero (a device whose memory was never written), or must be unlinked instead of pooled,
    /// after every check `scrubRetired` makes (`ScrubPool.scrubHiddenAtOnce`). A file that holds written bytes is
    /// left for `scrubRetired`.
    public func scrubRetiredAtOnce(token: String, size: ByteCount, in region: RegionConfig) throws(BackendError)
        -> Bool
    {
        guard keepsScrubbedFiles else { return false }
        let operation = "scrub"
        let pool = pool(try deviceDirectory(region, operation: operation))
        guard
            let outcome = try pool.scrubHiddenAtOnce(
                token: token, expectedSize: Int64(clamping: size.rawValue), limit: Self.atOnceScrubLimit,
                operation: operation)
        else { return false }
        if case .pooled(let bytes) = outcome {
            logger.debug(
                "pooled without a store: nothing was written", metadata: ["token": "\(token)", "bytes": "\(bytes)"])
        }
        return true
    }

    /// Makes a new device's file at once from a pooled file of exactly `size` bytes (a rename), when the pool has
    /// one, and gives it to `owner` (mode 0600) through the descriptor the hand-out proof opened; otherwise does
    /// nothing and says so.
    public func provisionDeviceAtOnce(
        _ device: DaxPoolCore.DeviceID, size: ByteCount, owner: UInt32?, in region: RegionConfig
    ) throws(BackendError) -> Bool {
        guard keepsScrubbedFiles else { return false }
        let operation = "provision-device"
        let directory = try deviceDirectory(region, operation: operation)
        let devices = FileBackedDevices(directory: directory, logger: logger)
        guard try devices.existingFile(of: device, operation: operation) == nil else { return false }
        let path = devices.files(of: device).enabled
        guard try devices.take(device, at: path, size: size, owner: owner, from: pool(directory), operation: operation)
        else {
            return false
        }
        watcher?.watch(device, path: path, size: size)
        return true
    }
}
