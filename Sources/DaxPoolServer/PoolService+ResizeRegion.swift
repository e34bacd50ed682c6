import DaxPoolAPI
import DaxPoolCore
import Logging

extension PoolService {
    /// Grows or shrinks region `id` to `request.size` (administrators): the model checks the size and that nothing
    /// holds memory past it, the backend changes the memory behind the region (hugetlb: exactly the pages added or
    /// given back on the region's node), and the new size is persisted. A failure at any step leaves the size, the
    /// memory and the state exactly as before: when persisting fails, the backend is resized back.
    public func resizeRegion(_ id: Int, _ request: ResizeRegionRequest, by caller: Caller = .daemon) async throws
        -> RegionInfo
    {
        try policy.requireAdministrator(caller, to: "resize regions")
        let region = try model.region(id)
        let size = request.size
        if let creating = region.provisional.min() {
            throw PoolError.deviceBusy(DeviceID(region: id, instance: creating))
        }
        var next = model
        try next.resizeRegion(id, to: size)
        guard size != region.config.size else { return try self.region(id, by: caller) }
        let backend = try backendFor(region.config.backend)
        let config = try backend.resizeRegion(region.config, to: size)
        guard config.size == size else {
            _ = try? backend.resizeRegion(config, to: region.config.size)
            throw PoolError.invalidRequest(
                "the \(region.config.backend) backend made region \(id) \(config.size.rawValue) bytes instead of "
                    + "\(size.rawValue): nothing was changed")
        }
        // The parts the backend holds the region's memory in (hugetlb: one mount each) are what the allocator keeps
        // devices inside of.
        if config.segments != (try next.region(id)).config.segments {
            next = model
            do {
                try next.resizeRegion(id, to: size, segments: config.segments)
            } catch {
                _ = try? backend.resizeRegion(config, to: region.config.size)
                throw error
            }
        }
        do {
            try await persist(next)
        } catch {
            do {
                _ = try backend.resizeRegion(config, to: region.config.size)
            } catch let undo {
                logger.critical(
                    "a resize that was not persisted could not be undone in the backend",
                    metadata: ["region": "\(id)", "error": "\(undo)"])
            }
            throw error
        }
        queueFill(id)
        logger.info(
            "resized region",
            metadata: ["region": "\(id)", "from": "\(region.config.size)", "to": "\(size)"])
        return try self.region(id, by: caller)
    }
}
