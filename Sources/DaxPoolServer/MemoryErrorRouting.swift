import DaxPoolCore
import Logging

/// Turns the kernel's memory-error signals into pool memory errors: the signal's address is resolved to a device
/// and an offset in it through the daemon's own mappings of device memory, then recorded by the service exactly
/// as an `inject-error` is (attributed, quarantined, persisted, announced on `/v1/events`).
public struct MemoryErrorRouting: Sendable {
    /// `BUS_MCEERR_AR`: the error was hit by an access.
    public static let actionRequired: Int32 = 4
    /// `BUS_MCEERR_AO`: memory-failure handling found the error; nobody touched it yet.
    public static let actionOptional: Int32 = 5

    let service: PoolService
    let resolve: @Sendable (UInt) -> (device: DeviceID, offset: ByteCount)?
    let logger: Logger

    /// - Parameter resolve: the device and device offset a signal address falls in, if any (the Linux
    ///   `DeviceMemoryWatcher`).
    public init(
        service: PoolService,
        logger: Logger,
        resolve: @escaping @Sendable (UInt) -> (device: DeviceID, offset: ByteCount)?
    ) {
        self.service = service
        self.logger = logger
        self.resolve = resolve
    }

    /// Records one signal: `code` (`si_code`), `address` (`si_addr`) and `granuleShift` (`si_addr_lsb`).
    /// - Returns: the events recorded (none when the signal is not a memory error or is outside device memory).
    @discardableResult
    public func handle(code: Int32, address: UInt, granuleShift: Int) async -> [MemoryErrorEvent] {
        guard code == Self.actionOptional || code == Self.actionRequired else { return [] }
        let source = code == Self.actionOptional ? "sigbus-ao" : "sigbus-ar"
        guard let (device, offset) = resolve(address) else {
            logger.warning(
                "memory error outside any device's memory",
                metadata: ["address": "0x\(String(address, radix: 16))", "source": "\(source)"])
            return []
        }
        do {
            return try await service.recordMemoryError(
                device: device, offset: offset, granuleShift: granuleShift, source: source)
        } catch {
            logger.error(
                "cannot record a memory error",
                metadata: ["device": "\(device)", "offset": "\(offset)", "error": "\(error)"])
            return []
        }
    }
}
