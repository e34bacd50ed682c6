// Linux only.
import DaxPoolCore

extension LabelStateStore {
    /// Brings the files from `loaded` to `snapshot` in the crash-safe order described on `LabelStateStore`,
    /// updating `loaded` as it goes.
    func apply(_ snapshot: PoolSnapshot, to loaded: inout Loaded) throws(LabelStateStoreError) {
        let old = loaded.sidecar
        let target = Sidecar(snapshot, areas: old?.areas ?? [:], newAreaSize: areaSize)
        var wanted: [Int: [LabelledNamespace]] = [:]
        for region in snapshot.regions {
            wanted[region.config.id] = try LabelStateStore.namespaces(of: region)
        }
        if loaded.sidecar == nil {
            try ensureDirectory()
        }

        // 1. Label areas of new regions, complete before the sidecar names them.
        var createdAreas: [Int: String] = [:]
        for region in target.regions where loaded.areas[region.config.id] == nil {
            let id = region.config.id
            loaded.areas[id] = try createArea(
                region: id, file: region.labelArea.file, size: region.labelArea.size, namespaces: [])
            createdAreas[id] = region.labelArea.file
        }

        // 2. The sidecar with every new entry, keeping what still has labels.
        let superset = LabelStateStore.superset(of: target, old: old, areas: loaded.areas)
        var written = old
        if superset != old {
            try replaceFile(LabelStateStore.sidecarFileName, with: try superset.encoded())
            written = superset
        }

        // 3. One atomic label update per region that changes.
        var labelsChanged = false
        do throws(LabelStateStoreError) {
            for id in loaded.areas.keys.sorted() {
                guard var store = loaded.areas[id] else {
                    continue
                }
                let (puts, removes) = LabelStateStore.changes(from: store.namespaces, to: wanted[id] ?? [])
                guard !puts.isEmpty || !removes.isEmpty else {
                    continue
                }
                try update(&store, region: id, puts: puts, removes: removes)
                loaded.areas[id] = store
                labelsChanged = true
            }
        } catch {
            if !labelsChanged, error.wroteNothing {
                try? restore(sidecar: old, written: written, createdAreas: createdAreas, in: &loaded)
            }
            throw error
        }

        // 4. The sidecar with exactly the new contents.
        if target != written {
            try replaceFile(LabelStateStore.sidecarFileName, with: try target.encoded())
        }
        loaded.sidecar = target

        // 5. Label areas of regions that are gone.
        let remaining = Set(target.regions.map(\.config.id))
        for region in old?.regions ?? [] where !remaining.contains(region.config.id) {
            try removeFile(region.labelArea.file)
            loaded.areas[region.config.id] = nil
        }
    }

    /// `target` plus what the files must keep until the labels change: regions that are going away and the
    /// entries of devices that are going away but still have labels.
    static func superset(
        of target: Sidecar,
        old: Sidecar?,
        areas: [Int: LabelStore<FileLabelStorage>]
    ) -> Sidecar {
        guard let old else {
            return target
        }
        var result = target
        for oldRegion in old.regions {
            let id = oldRegion.config.id
            guard let index = result.regions.firstIndex(where: { $0.config.id == id }) else {
                result.regions.append(oldRegion)
                continue
            }
            let labelled = Set(areas[id]?.namespaces.map(\.uuid) ?? [])
            let listed = Set(result.regions[index].devices.map(\.uuid))
            let leaving = oldRegion.devices.filter { labelled.contains($0.uuid) && !listed.contains($0.uuid) }
            if !leaving.isEmpty {
                result.regions[index].devices.append(contentsOf: leaving)
                result.regions[index].devices.sort { ($0.instance, $0.uuid) < ($1.instance, $1.uuid) }
            }
        }
        result.regions.sort { $0.config.id < $1.config.id }
        return result
    }

    /// Undoes steps 1 and 2 of a commit whose label update wrote nothing: the sidecar goes back to `old`
    /// (byte for byte, or away if there was none) and areas created for it are removed.
    private func restore(
        sidecar old: Sidecar?,
        written: Sidecar?,
        createdAreas: [Int: String],
        in loaded: inout Loaded
    ) throws(LabelStateStoreError) {
        if written != old {
            if let old {
                try replaceFile(LabelStateStore.sidecarFileName, with: try old.encoded())
            } else {
                try removeFile(LabelStateStore.sidecarFileName)
            }
        }
        for (id, file) in createdAreas.sorted(by: { $0.key < $1.key }) {
            loaded.areas[id] = nil
            try removeFile(file)
        }
    }
}
