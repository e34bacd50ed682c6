import DaxPoolAPI
import DaxPoolCore
import Dispatch
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Memory errors and bad blocks: recording, clearing, and telling subscribers.
extension PoolService {
    /// Records a memory error the kernel reported in a device's memory (a `SIGBUS` on the daemon's own mapping of
    /// it): `offset` bytes into `device`, in a granule of `1 << granuleShift` bytes.
    public func recordMemoryError(
        device: DeviceID,
        offset: ByteCount,
        granuleShift: Int,
        source: String
    ) async throws -> [MemoryErrorEvent] {
        let granule: Alignment =
            switch granuleShift {
            case 30...: .page1G
            case 21..<30: .page2M
            default: .page4K
            }
        let start = offset.rawValue & ~(granule.rawValue - 1)
        let size = model.extents(of: device).reduce(0) { $0 + $1.length.rawValue }
        let length = min(granule.rawValue, size > start ? size - start : 0)
        return try await recordMemoryError(
            device: device, offset: ByteCount(start), length: ByteCount(max(length, 1)), granule: granule,
            source: source)
    }

    /// Records a memory error from the API (administrators only), by device offset or region offset, as the typed
    /// `recordMemoryError(device:offset:length:granule:source:)` and `recordMemoryError(region:offset:...)` do.
    public func recordMemoryError(_ request: InjectErrorRequest, source: String = "api", by caller: Caller = .daemon)
        async throws -> [MemoryErrorEvent]
    {
        try policy.requireAdministrator(caller, to: "report memory errors")
        let granule = request.granule ?? .page4K
        if let reference = request.device {
            guard request.region == nil, request.regionOffset == nil else {
                throw PoolError.invalidRequest("give either device and offset, or region and region_offset")
            }
            let record = try model.resolveDevice(reference.text)
            return try await recordMemoryError(
                device: record.id, offset: request.offset ?? .zero, length: request.length, granule: granule,
                source: source)
        } else if let region = request.region, let regionOffset = request.regionOffset {
            guard request.offset == nil else {
                throw PoolError.invalidRequest("offset is a device offset: use region_offset with region")
            }
            return try await recordMemoryError(
                region: region, offset: regionOffset, length: request.length, granule: granule, source: source)
        } else {
            throw PoolError.invalidRequest("give either device and offset, or region and region_offset")
        }
    }

    /// Records a memory error `length` bytes long at `deviceOffset` in device `id`, quarantined in `granule`.
    /// - Throws: `PoolError` when the device is unknown or the range runs past its end, or the store's error.
    func recordMemoryError(
        device id: DeviceID, offset deviceOffset: ByteCount, length: ByteCount, granule: Alignment, source: String
    ) async throws -> [MemoryErrorEvent] {
        _ = try model.device(id)
        let extents = model.extents(of: id)
        guard let regionOffset = Self.regionOffset(of: deviceOffset, in: extents) else {
            throw PoolError.invalidRequest(
                "offset \(deviceOffset) is past the end of \(id) (size \(extents.reduce(0) { $0 + $1.length.rawValue }) bytes)"
            )
        }
        guard length.rawValue <= Self.bytes(after: deviceOffset, in: extents) else {
            throw PoolError.invalidRequest("offset + length runs past the end of \(id)")
        }
        return try await recordMemoryError(
            region: id.region, offset: regionOffset, length: length, granule: granule, source: source)
    }

    /// Records a memory error `length` bytes long at `offset` in region `regionID`, quarantined in `granule`:
    /// attributes it, quarantines it, persists it, and tells every connected event client.
    /// - Throws: `PoolError` when the model refuses it (unknown region, a range outside it), or the store's error.
    func recordMemoryError(
        region regionID: Int, offset: RegionOffset, length: ByteCount, granule: Alignment, source: String
    ) async throws -> [MemoryErrorEvent] {
        var next = model
        let produced = try next.recordMemoryError(
            region: regionID, offset: offset, length: length, granule: granule, source: source, time: Self.now()
        )
        try await persist(next)
        for event in produced {
            logger.warning(
                "memory error quarantined",
                metadata: [
                    "region": "\(event.region)", "region_offset": "\(event.regionOffset)", "length": "\(event.length)",
                    "device": "\(event.device ?? "-")",
                    "device_offset": "\(event.deviceOffset.map(String.init) ?? "-")",
                ]
            )
            for continuation in subscribers.values { continuation.yield(event) }
        }
        return produced
    }

    /// Records the kernel's bad ranges of the nd region behind region `regionID` (byte extents from the nd region's
    /// start; the region's offset 0 lies `base` bytes in): the parts inside the region that it does not know as
    /// bad yet become memory errors with source `badblocks`.
    public func recordKernelBadBlocks(region regionID: Int, base: UInt64, _ ranges: [Extent]) async throws
        -> [MemoryErrorEvent]
    {
        let region = try model.region(regionID)
        let inside = KernelBadBlocks.regionRanges(ranges, base: base, size: region.config.size)
        var produced: [MemoryErrorEvent] = []
        for range in KernelBadBlocks.uncovered(inside, by: region.badBlocks) {
            produced += try await recordMemoryError(
                region: regionID, offset: range.start, length: range.length, granule: .page4K, source: "badblocks")
        }
        return produced
    }

    /// Forgets bad blocks in a range of a region.
    public func clearErrors(_ request: ClearErrorsRequest, by caller: Caller = .daemon) async throws
        -> ClearErrorsResponse
    {
        try policy.requireAdministrator(caller, to: "clear memory errors")
        let start = request.regionOffset
        let length = request.length
        guard length.rawValue > 0, start.adding(length) != nil else {
            throw PoolError.invalidRequest("length must be greater than zero and the range must fit in 64 bits")
        }
        var next = model
        let cleared = try next.clearBadBlocks(
            region: request.region,
            extent: Extent(start: start, length: length)
        )
        try await persist(next)
        return ClearErrorsResponse(cleared: cleared, region: try region(request.region, by: caller))
    }

    /// The retained events after `sequence`, and a stream of the ones to come (atomically: none is lost
    /// between the two).
    public func subscribe(after sequence: UInt64) -> (
        backlog: [MemoryErrorEvent], stream: AsyncStream<MemoryErrorEvent>
    ) {
        let id = nextSubscriber
        nextSubscriber += 1
        let (stream, continuation) = AsyncStream<MemoryErrorEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        subscribers[id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.unsubscribe(id) }
        }
        return (model.events.filter { $0.sequence > sequence }, stream)
    }

    /// Whether `caller` may read `event`: administrators read every event; a device's owner reads the events of
    /// that device (the same device: its uuid must match, so a later device with the same id does not inherit them).
    public func mayRead(_ event: MemoryErrorEvent, _ caller: Caller) -> Bool {
        if policy.isAdministrator(caller) { return true }
        guard let name = event.device, let record = try? model.resolveDevice(name) else { return false }
        return record.owner == caller.uid && event.deviceUUID == record.uuid.description
    }

    /// The retained events after `sequence`.
    public func events(after sequence: UInt64) -> [MemoryErrorEvent] {
        model.events.filter { $0.sequence > sequence }
    }

    func unsubscribe(_ id: Int) {
        subscribers[id] = nil
    }

    /// Ends every event stream (at shutdown).
    public func finishSubscribers() {
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }

    static func regionOffset(of deviceOffset: ByteCount, in extents: [Extent]) -> RegionOffset? {
        var base: UInt64 = 0
        for extent in extents {
            if deviceOffset.rawValue < base + extent.length.rawValue {
                return RegionOffset(extent.start.rawValue + deviceOffset.rawValue - base)
            }
            base += extent.length.rawValue
        }
        return nil
    }

    static func bytes(after deviceOffset: ByteCount, in extents: [Extent]) -> UInt64 {
        let total = extents.reduce(0) { $0 + $1.length.rawValue }
        return total > deviceOffset.rawValue ? total - deviceOffset.rawValue : 0
    }

    static func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}
