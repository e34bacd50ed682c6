import DaxPoolAPI
import DaxPoolCore
import Logging

/// The daemon's state: the pool model, the backends and the store. Every change is validated by the
/// model, carried out by the backend, persisted by the store, and only then made visible; a failure at
/// any step undoes the steps before it, so state and files stay exactly as they were.
public actor PoolService {
    private var model: PoolModel
    private let backends: [BackendKind: any MemoryBackend]
    private let store: any StateStore
    private let settings: PoolSettings
    private let logger: Logger
    private var generator = SystemRandomNumberGenerator()

    /// Loads the persisted state, brings every backend in line with it, and creates the embedded default
    /// region when there is none.
    public init(
        backends: [any MemoryBackend],
        store: any StateStore,
        settings: PoolSettings,
        logger: Logger
    ) async throws {
        self.backends = Dictionary(backends.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.store = store
        self.settings = settings
        self.logger = logger
        if let snapshot = try store.load() {
            model = try PoolModel(snapshot: snapshot)
        } else {
            model = PoolModel()
        }
        for id in model.regionIDs {
            guard let region = model.regions[id] else { continue }
            let backend = try backendFor(region.config.backend)
            try backend.reconcile(
                region.config,
                devices: region.sortedDevices.map { ($0, region.allocator.ranges(of: $0.id.instance)) }
            )
        }
        if model.regions.isEmpty, let defaultSize = settings.defaultRegionSize, defaultSize.rawValue > 0 {
            let region = try createRegion(CreateRegionRequest(backend: .shm, size: SizeValue(bytes: defaultSize.rawValue)))
            logger.info("created the embedded default region", metadata: ["region": "\(region.id)", "path": "\(region.path)"])
        }
    }

    // MARK: - Queries

    public func regions(includeDevices: Bool = true) -> [RegionInfo] {
        model.regionIDs.compactMap { id in model.regions[id].map { info(for: $0, includeDevices: includeDevices) } }
    }

    public func region(_ id: Int) throws -> RegionInfo {
        info(for: try model.region(id), includeDevices: true)
    }

    public func devices() -> [DeviceInfo] {
        model.regionIDs.flatMap { id -> [DeviceInfo] in
            guard let region = model.regions[id] else { return [] }
            return region.sortedDevices.map { info(for: $0, in: region) }
        }
    }

    public func device(_ name: String) throws -> DeviceInfo {
        let record = try model.resolveDevice(name)
        return try info(for: record, in: model.region(record.id.region))
    }

    /// The current model, for tests and the label tools.
    public var snapshot: PoolSnapshot { model.snapshot }

    // MARK: - Regions

    public func createRegion(_ request: CreateRegionRequest) throws -> RegionInfo {
        let backend = try backendFor(request.backend)
        guard let sizeValue = request.size ?? (request.backend == .devdax ? SizeValue(bytes: 0) : nil) else {
            throw PoolError.invalidRequest("size is required for a \(request.backend) region")
        }
        let size = try parseSize(sizeValue, field: "size")
        if let daxRegion = request.daxRegion {
            guard request.backend == .devdax else { throw PoolError.invalidRequest("dax_region is only for devdax regions") }
            guard daxRegion >= 0, daxRegion < 1 << 20 else { throw PoolError.invalidRequest("dax_region \(daxRegion) is not a region id") }
            guard model.regions[daxRegion] == nil else { throw PoolError.regionExists(daxRegion) }
        }
        let id = request.daxRegion ?? model.nextRegionID
        let pageSize: Alignment
        if let text = request.pageSize {
            do { pageSize = try Alignment(parsing: text) } catch { throw PoolError.invalidRequest(error.description) }
        } else {
            pageSize = request.backend == .hugetlb ? .page2M : .page4K
        }
        if let node = request.node, node < 0 || node > 4095 {
            throw PoolError.invalidRequest("node \(node) is not a NUMA node number")
        }
        let path: String
        if let requested = request.path {
            try PathRules.check(requested)
            path = requested
        } else {
            path = settings.defaultPath(for: request.backend, region: id)
        }
        let wanted = RegionConfig(
            id: id,
            backend: request.backend,
            size: size,
            align: .page1G,
            pageSize: pageSize,
            targetNode: request.node,
            path: path
        )
        if request.backend != .devdax {
            var next = model
            try next.addRegion(wanted)
        }
        let config = try backend.createRegion(wanted)
        var final = model
        do {
            try final.addRegion(config)
        } catch {
            try? backend.destroyRegion(config)
            throw error
        }
        do {
            try store.commit(final.snapshot)
        } catch {
            try? backend.destroyRegion(config)
            throw error
        }
        model = final
        logger.info("created region", metadata: ["region": "\(id)", "backend": "\(config.backend)"])
        return info(for: try model.region(id), includeDevices: true)
    }

    public func destroyRegion(_ id: Int) throws {
        let region = try model.region(id)
        var next = model
        try next.removeRegion(id)
        try store.commit(next.snapshot)
        model = next
        do {
            try backendFor(region.config.backend).destroyRegion(region.config)
        } catch {
            logger.warning("region \(id) is gone from the state but its backend did not clean up: \(error)")
        }
    }

    // MARK: - Devices

    public func createDevice(_ request: CreateDeviceRequest) throws -> DeviceInfo {
        let size = try request.size.map { try parseSize($0, field: "size") }
        let align = try request.align.map { try parseAlignment($0) }
        var name: DeviceName?
        if let text = request.name {
            do { name = try DeviceName(validating: text) } catch { throw PoolError.invalidRequest(error.description) }
        }
        let uuid: LabelUUID
        if let text = request.uuid {
            guard let parsed = LabelUUID(text) else {
                throw PoolError.invalidRequest("uuid '\(text)' is not a UUID: use the 8-4-4-4-12 hex form")
            }
            uuid = parsed
        } else {
            uuid = LabelUUID.random(using: &generator)
        }
        let layout = try request.mappings.map { try Self.layout(from: $0) }
        if let size, size.rawValue == 0 { throw PoolError.allocation(.zeroSize) }
        let targetID = try model.targetRegion(
            request.region,
            size: size ?? ByteCount(layout?.reduce(0) { $0 + $1.length.rawValue } ?? 0)
        )
        let target = try model.region(targetID)
        let backend = try backendFor(target.config.backend)
        let instance = try backend.claimDeviceInstance(in: target.config, proposed: target.nextInstance)
        var next = model
        let record = try next.createDevice(
            region: targetID,
            size: size,
            align: align,
            name: name,
            uuid: uuid,
            layout: layout,
            instance: instance
        )
        let region = try next.region(record.id.region)
        let extents = region.allocator.ranges(of: record.id.instance)
        try backend.provisionDevice(record.id, size: region.allocator.size(of: record.id.instance), extents: extents, in: region.config)
        do {
            try store.commit(next.snapshot)
        } catch {
            try? backend.destroyDevice(record.id, in: region.config)
            throw error
        }
        model = next
        logger.info("created device", metadata: ["device": "\(record.id)", "size": "\(region.allocator.size(of: record.id.instance))"])
        return info(for: record, in: region)
    }

    public func reconfigureDevice(_ name: String, _ request: ReconfigureDeviceRequest) throws -> DeviceInfo {
        let size = try request.size.map { try parseSize($0, field: "size") }
        let align = try request.align.map { try parseAlignment($0) }
        let old = try model.resolveDevice(name)
        let oldRegion = try model.region(old.id.region)
        let oldSize = oldRegion.allocator.size(of: old.id.instance)
        var next = model
        let record = try next.reconfigureDevice(old.id, size: size, align: align, force: request.force ?? false)
        let region = try next.region(record.id.region)
        let newSize = region.allocator.size(of: record.id.instance)
        let backend = try backendFor(region.config.backend)
        if newSize != oldSize {
            try backend.provisionDevice(
                record.id, size: newSize, extents: region.allocator.ranges(of: record.id.instance), in: region.config)
        }
        do {
            try store.commit(next.snapshot)
        } catch {
            if newSize != oldSize {
                try? backend.provisionDevice(
                    record.id, size: oldSize, extents: oldRegion.allocator.ranges(of: old.id.instance),
                    in: oldRegion.config)
            }
            throw error
        }
        model = next
        return info(for: record, in: region)
    }

    public func destroyDevice(_ name: String, force: Bool) throws {
        let record = try model.resolveDevice(name)
        let region = try model.region(record.id.region)
        var next = model
        try next.destroyDevice(record.id, force: force)
        try store.commit(next.snapshot)
        model = next
        do {
            try backendFor(region.config.backend).destroyDevice(record.id, in: region.config)
        } catch {
            logger.warning("\(record.id) is gone from the state but its memory was not released: \(error)")
        }
        logger.info("destroyed device", metadata: ["device": "\(record.id)"])
    }

    public func setDeviceState(_ name: String, _ state: DeviceState) throws -> DeviceInfo {
        let record = try model.resolveDevice(name)
        let region = try model.region(record.id.region)
        guard record.state != state else { return info(for: record, in: region) }
        var next = model
        try next.setState(record.id, state)
        let backend = try backendFor(region.config.backend)
        try backend.setDeviceEnabled(record.id, enabled: state == .enabled, in: region.config)
        do {
            try store.commit(next.snapshot)
        } catch {
            try? backend.setDeviceEnabled(record.id, enabled: state != .enabled, in: region.config)
            throw error
        }
        model = next
        return try info(for: model.device(record.id), in: model.region(record.id.region))
    }

    // MARK: - Helpers

    private func backendFor(_ kind: BackendKind) throws(PoolError) -> any MemoryBackend {
        guard let backend = backends[kind] else {
            throw .invalidRequest(
                "backend '\(kind)' is not available in this daemon; available: "
                    + backends.keys.map(\.rawValue).sorted().joined(separator: ", ")
            )
        }
        return backend
    }

    private func parseSize(_ value: SizeValue, field: String) throws(PoolError) -> ByteCount {
        do { return try value.parsed() } catch { throw .invalidRequest("\(field): \(error.description)") }
    }

    private func parseAlignment(_ value: SizeValue) throws(PoolError) -> Alignment {
        do { return try Alignment(parsing: value.text) } catch { throw .invalidRequest(error.description) }
    }

    static func layout(from mappings: [MappingRequest]) throws(PoolError) -> [Extent] {
        guard !mappings.isEmpty else { throw .invalidLayout("mappings is empty") }
        let ordered = mappings.enumerated().sorted { ($0.element.pageOffset ?? UInt64($0.offset)) < ($1.element.pageOffset ?? UInt64($1.offset)) }
        var extents: [Extent] = []
        var expectedPageOffset: UInt64 = 0
        for (_, mapping) in ordered {
            guard mapping.end >= mapping.start, mapping.end < UInt64.max else {
                throw .invalidLayout("mapping \(mapping.start)-\(mapping.end) ends before it starts")
            }
            let length = mapping.end - mapping.start + 1
            if let pageOffset = mapping.pageOffset, pageOffset != expectedPageOffset {
                throw .invalidLayout("page_offset \(pageOffset) should be \(expectedPageOffset): mappings must be contiguous in the device")
            }
            extents.append(Extent(start: RegionOffset(mapping.start), length: ByteCount(length)))
            expectedPageOffset += length >> 12
        }
        return extents
    }

    private func info(for region: RegionState, includeDevices: Bool) -> RegionInfo {
        let available = region.allocator.availableSize.rawValue
        return RegionInfo(
            id: region.config.id,
            path: region.config.path,
            size: region.config.size.rawValue,
            availableSize: available > 0 ? available : nil,
            align: region.config.align.rawValue,
            devices: includeDevices ? region.sortedDevices.map { info(for: $0, in: region) } : nil,
            backend: region.config.backend,
            pageSize: region.config.pageSize.rawValue,
            targetNode: region.config.targetNode,
            largestAvailableExtent: region.allocator.largestFreeExtent(alignment: region.config.pageSize).rawValue,
            badblocks: region.allocator.quarantined.map { BadBlock(offset: $0.start.rawValue, length: $0.length.rawValue) }
        )
    }

    private func info(for record: DeviceRecord, in region: RegionState) -> DeviceInfo {
        let extents = region.allocator.ranges(of: record.id.instance)
        return DeviceInfo(
            chardev: record.id.description,
            size: region.allocator.size(of: record.id.instance).rawValue,
            targetNode: region.config.targetNode,
            align: record.align.rawValue,
            mappings: DeviceMapping.mappings(of: extents),
            path: backends[region.config.backend]?.devicePath(record.id, in: region.config),
            uuid: record.uuid.description,
            name: record.name?.value,
            state: record.state,
            backend: region.config.backend
        )
    }
}
