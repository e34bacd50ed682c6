// Linux only.
import DaxPoolCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension LabelStateStore {
    /// What the state directory holds: the sidecar as written and an open store per region's label area.
    struct Loaded: Sendable {
        /// `regions.json`, or `nil` when there is none (nothing was ever committed).
        var sidecar: Sidecar?
        /// The label area of every region the sidecar lists (and, during a commit, of regions being added
        /// or removed), by region id.
        var areas: [Int: LabelStore<FileLabelStorage>]

        /// The pool state the files describe: devices from the labels, everything else from the sidecar.
        ///
        /// - Returns: The state, or `nil` without a sidecar.
        /// - Throws: `.unreadable` when a region has no label area.
        func snapshot() throws(LabelStateStoreError) -> PoolSnapshot? {
            guard let sidecar else {
                return nil
            }
            var regions: [RegionSnapshot] = []
            for region in sidecar.regions {
                guard let area = areas[region.config.id] else {
                    throw .unreadable(
                        path: LabelStateStore.sidecarFileName,
                        reason: "region \(region.config.id) has no label area")
                }
                let devices = LabelStateStore.devices(
                    of: area.namespaces, entries: region.devices, config: region.config)
                // A destroy writes its pending scrub to the sidecar before it removes the device's labels: if the
                // labels are still there, the destroy did not happen, and neither did the scrub.
                let labelled = Set(devices.map(\.record.uuid))
                regions.append(
                    RegionSnapshot(
                        config: region.config,
                        devices: devices,
                        badBlocks: region.badBlocks,
                        pendingScrubs: (region.pendingScrubs ?? []).filter { !labelled.contains($0.deviceUUID) }
                    )
                )
            }
            return PoolSnapshot(regions: regions, events: sidecar.events, lastEventSequence: sidecar.lastEventSequence)
        }
    }

    /// Reads the sidecar and opens every region's label area; without a sidecar, migrates `state.json` if
    /// there is one. Finishes a migration that stopped after its sidecar was written.
    func readFromDisk() throws(LabelStateStoreError) -> Loaded {
        try removeStaleTemporaries()
        guard let bytes = try readFile(LabelStateStore.sidecarFileName) else {
            if let legacy = try readFile(LabelStateStore.legacyFileName) {
                return try migrate(legacy)
            }
            return Loaded(sidecar: nil, areas: [:])
        }
        let sidecar: Sidecar
        do {
            sidecar = try Sidecar.decode(bytes)
        } catch {
            throw .unreadable(path: path(LabelStateStore.sidecarFileName), reason: "\(error)")
        }
        guard sidecar.format <= Sidecar.currentFormat else {
            throw .unreadable(
                path: path(LabelStateStore.sidecarFileName),
                reason:
                    "format \(sidecar.format) is newer than this daxpool (\(Sidecar.currentFormat)); run a newer daxpool"
            )
        }
        var areas: [Int: LabelStore<FileLabelStorage>] = [:]
        for region in sidecar.regions {
            areas[region.config.id] = try openArea(
                region: region.config.id, file: region.labelArea.file, size: region.labelArea.size)
        }
        if try fileExists(LabelStateStore.legacyFileName) {
            try renameFile(LabelStateStore.legacyFileName, to: LabelStateStore.migratedFileName)
        }
        return Loaded(sidecar: sidecar, areas: areas)
    }

    /// Moves the state of `state.json` into label areas and a sidecar.
    ///
    /// The label areas are written first, each whole under a temporary name; the sidecar is the commit point;
    /// `state.json` is renamed last. A crash before the sidecar leaves `state.json` in charge (the next load
    /// migrates again); a crash after it leaves the migrated state, and the next load renames `state.json`.
    func migrate(_ legacy: [UInt8]) throws(LabelStateStoreError) -> Loaded {
        let snapshot: PoolSnapshot
        do {
            snapshot = try JSONDecoder().decode(PoolSnapshot.self, from: Data(legacy))
        } catch {
            throw .unreadable(path: path(LabelStateStore.legacyFileName), reason: "\(error)")
        }
        var areas: [Int: LabelStore<FileLabelStorage>] = [:]
        var files: [Int: Sidecar.Area] = [:]
        for region in snapshot.regions {
            let id = region.config.id
            let namespaces = try LabelStateStore.namespaces(of: region)
            let labels = namespaces.reduce(0) { $0 + $1.extents.count }
            let area = Sidecar.Area(
                file: LabelStateStore.areaFileName(region: id),
                size: LabelStateStore.areaSize(holding: labels, atLeast: areaSize))
            areas[id] = try createArea(region: id, file: area.file, size: area.size, namespaces: namespaces)
            files[id] = area
        }
        let sidecar = Sidecar(snapshot, areas: files, newAreaSize: areaSize)
        try replaceFile(LabelStateStore.sidecarFileName, with: try sidecar.encoded())
        try renameFile(LabelStateStore.legacyFileName, to: LabelStateStore.migratedFileName)
        return Loaded(sidecar: sidecar, areas: areas)
    }

    /// The smallest area size, doubling from `minimum`, whose slots hold `labels` labels through the two
    /// passes of one update with room to spare.
    static func areaSize(holding labels: Int, atLeast minimum: Int) -> Int {
        var size = minimum
        while size < 1 << 30 {
            if let geometry = try? LabelAreaGeometry(configSize: size, version: labelVersion),
                geometry.slotCount >= 2 * labels + 16
            {
                return size
            }
            size *= 2
        }
        return size
    }

    /// The devices a region's labels describe, with instance and state from the sidecar entries.
    ///
    /// A uuid with an entry keeps its instance (unless another labelled device already took it); the
    /// others get the lowest free instances, in uuid order, and are enabled, with no owner recorded (the daemon
    /// gives them its own uid) and no leases. Names that are not valid device
    /// names are dropped; an alignment that is not a supported page size becomes the region's page size.
    static func devices(
        of namespaces: [LabelledNamespace],
        entries: [Sidecar.Device],
        config: RegionConfig
    ) -> [DeviceSnapshot] {
        let byUUID = Dictionary(entries.map { ($0.uuid, $0) }, uniquingKeysWith: { first, _ in first })
        var taken = Set<Int>()
        var placed: [(LabelledNamespace, Int, Sidecar.Device?)] = []
        var unplaced: [LabelledNamespace] = []
        for namespace in namespaces {
            if let entry = byUUID[namespace.uuid], entry.instance >= 0, taken.insert(entry.instance).inserted {
                placed.append((namespace, entry.instance, entry))
            } else {
                unplaced.append(namespace)
            }
        }
        var next = 0
        for namespace in unplaced {
            while taken.contains(next) {
                next += 1
            }
            taken.insert(next)
            placed.append((namespace, next, nil))
        }
        return placed.sorted { $0.1 < $1.1 }.map { namespace, instance, entry in
            let name = namespace.name.isEmpty ? nil : try? DeviceName(loading: namespace.name)
            let record = DeviceRecord(
                id: DeviceID(region: config.id, instance: instance),
                uuid: namespace.uuid,
                name: name,
                align: Alignment(rawValue: namespace.alignment) ?? config.pageSize,
                state: entry?.state ?? .enabled,
                owner: entry?.owner,
                leases: entry?.leases ?? []
            )
            let extents = namespace.extents.map {
                Extent(start: RegionOffset($0.dpa), length: ByteCount($0.rawSize))
            }
            return DeviceSnapshot(record: record, extents: extents)
        }
    }

    /// The namespaces that record a region's devices: one per device, one extent per range.
    static func namespaces(of region: RegionSnapshot) throws(LabelStateStoreError) -> [LabelledNamespace] {
        var result: [LabelledNamespace] = []
        result.reserveCapacity(region.devices.count)
        for device in region.devices {
            let record = device.record
            guard !device.extents.isEmpty else {
                throw .unrepresentable(device: record.id.description, reason: "it has no ranges")
            }
            result.append(
                LabelledNamespace(
                    uuid: record.uuid,
                    name: record.name?.value ?? "",
                    alignment: record.align.rawValue,
                    extents: device.extents.map {
                        LabelledNamespace.Extent(dpa: $0.start.rawValue, rawSize: $0.length.rawValue)
                    }
                )
            )
        }
        return result
    }
}
