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
            InjectErrorRequest(
                device: device.description,
                offset: SizeValue(bytes: start),
                length: SizeValue(bytes: max(length, 1)),
                granule: SizeValue(bytes: granule.rawValue)
            ),
            source: source
        )
    }

    /// Records a memory error (from the API, a SIGBUS or kernel badblocks): attributes it, quarantines it,
    /// persists it, and tells every connected event client.
    public func recordMemoryError(_ request: InjectErrorRequest, source: String = "api", by caller: Caller = .daemon)
        async throws -> [MemoryErrorEvent]
    {
        try policy.requireAdministrator(caller, to: "report memory errors")
        let length = try parseSize(request.length, field: "length")
        let granule = try request.granule.map { try parseAlignment($0) } ?? .page4K
        let regionID: Int
        let offset: RegionOffset
        if let deviceName = request.device {
            guard request.region == nil, request.regionOffset == nil else {
                throw PoolError.invalidRequest("give either device and offset, or region and region_offset")
            }
            let record = try model.resolveDevice(deviceName)
            let deviceOffset = try request.offset.map { try parseSize($0, field: "offset") } ?? .zero
            guard let regionOffset = Self.regionOffset(of: deviceOffset, in: model.extents(of: record.id)) else {
                throw PoolError.invalidRequest(
                    "offset \(deviceOffset) is past the end of \(record.id) (size \(model.extents(of: record.id).reduce(0) { $0 + $1.length.rawValue }) bytes)"
                )
            }
            guard length.rawValue <= Self.bytes(after: deviceOffset, in: model.extents(of: record.id)) else {
                throw PoolError.invalidRequest("offset + length runs past the end of \(record.id)")
            }
            regionID = record.id.region
            offset = regionOffset
        } else if let region = request.region, let regionOffsetValue = request.regionOffset {
            guard request.offset == nil else {
                throw PoolError.invalidRequest("offset is a device offset: use region_offset with region")
            }
            regionID = region
            offset = RegionOffset(try parseSize(regionOffsetValue, field: "region_offset").rawValue)
        } else {
            throw PoolError.invalidRequest("give either device and offset, or region and region_offset")
        }
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
                InjectErrorRequest(
                    region: regionID,
                    regionOffset: SizeValue(bytes: range.start.rawValue),
                    length: SizeValue(bytes: range.length.rawValue)
                ),
                source: "badblocks"
            )
        }
        return produced
    }

    /// Forgets bad blocks in a range of a region.
    public func clearErrors(_ request: ClearErrorsRequest, by caller: Caller = .daemon) async throws
        -> ClearErrorsResponse
    {
        try policy.requireAdministrator(caller, to: "clear memory errors")
        let start = try parseSize(request.regionOffset, field: "region_offset")
        let length = try parseSize(request.length, field: "length")
        guard length.rawValue > 0, start.adding(length) != nil else {
            throw PoolError.invalidRequest("length must be greater than zero and the range must fit in 64 bits")
        }
        var next = model
        let cleared = try next.clearBadBlocks(
            region: request.region,
            extent: Extent(start: RegionOffset(start.rawValue), length: length)
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
