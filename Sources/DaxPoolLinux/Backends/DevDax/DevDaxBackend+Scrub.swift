// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Glibc
import Logging
import SystemPackage

extension DevDaxBackend {
    /// Zeroes the device's bytes from `offset` to its end before the kernel takes them back (a destroy, or the tail
    /// a shrink gives up): the dax bus hands freed ranges to the next device as they are, so without this a new
    /// owner would read the last one's data. Works through a `MAP_SHARED` mapping of `/dev/daxR.N`, binding the
    /// device for the time of the scrub when it is unbound (the kernel maps only bound devices), with the scrub
    /// engine's non-temporal stores on `scrubThreads` threads. A page whose memory has failed (a synchronous
    /// `SIGBUS`) is skipped, granule by granule, and the rest is zeroed.
    ///
    /// - Returns: the device as the kernel now shows it (bound as it was before).
    @discardableResult
    func scrub(_ device: SysfsDaxDevice, from offset: UInt64, region: SysfsDaxRegion, operation: String)
        throws(BackendError) -> SysfsDaxDevice
    {
        guard device.size > offset, let length = Int(exactly: device.size - offset), let start = Int64(exactly: offset)
        else { return device }
        let wasBound = device.driver == "device_dax"
        if !wasBound { try setBound(device, true, region: region, operation: operation) }
        let path = deviceDirectory.appending(device.name)
        var failure: BackendError?
        do throws(Errno) {
            let node = try OwnedDescriptor.open(path, .readWrite, options: [.noFollow])
            let base = try Syscall.map(
                length: length, protection: [.read, .write], flags: .shared,
                descriptor: node.descriptor.rawValue, offset: start)
            defer { try? Syscall.unmap(base, length: length) }
            let faults = scrubber.zero(UnsafeMutableRawBufferPointer(start: base, count: length), threads: scrubThreads)
            if faults > 0 {
                logger.warning(
                    "skipped failed memory while scrubbing",
                    metadata: ["device": "\(device.name)", "from": "\(offset)", "poisoned_pages": "\(faults)"])
            }
        } catch {
            failure = BackendError(
                operation, path, error, "cannot zero \(device.name) before giving its memory back: \(error)")
        }
        let now = try refreshed(device, operation: operation)
        if !wasBound { try setBound(now, false, region: region, operation: operation) }
        if let failure { throw failure }
        return try refreshed(device, operation: operation)
    }
}
