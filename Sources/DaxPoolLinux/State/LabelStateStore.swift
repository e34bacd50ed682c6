// Linux only.
import DaxPoolCore
import DaxPoolSystem
import Synchronization
import SystemPackage

/// Keeps the pool state in UEFI NVDIMM namespace label storage areas, one per region, plus a small sidecar.
///
/// In the state directory:
///
/// * `region<R>.labels` — region R's label storage area (default 128 KiB, v1.2 labels, 510 slots), updated
///   with the kernel's two-pass protocol (`LabelStore`). Every device range is one label: `uuid` = the
///   device's uuid, `name`, `dpa` = the region offset, `rawsize` = the range length, `nlabel`/`position` =
///   the order of the device's ranges, `align` = the device alignment, the DAX abstraction GUID.
///   `daxpool read-labels -r R` and `ndctl read-labels`-style tools read it.
/// * `regions.json` — what labels cannot express (see `Sidecar`): region configurations, device instance
///   numbers and states keyed by uuid, bad blocks, events. Replaced atomically (`AtomicFile`).
///
/// Crash safety: every write is ordered so that after a crash at any point `load()` returns the state before
/// or the state after the interrupted `commit`, for every change `PoolService` makes (one region's devices,
/// or only sidecar data, per commit). A commit writes, in this order, skipping steps with nothing to do:
///
/// 1. label areas of new regions, each created whole under a temporary name and renamed into place;
/// 2. the sidecar with the new contents plus the entries of devices that still have labels (a created
///    device's entry exists before its labels; a destroyed device's entry outlives its labels);
/// 3. each region's label changes as one atomic label update (puts and removes; unchanged devices are not
///    rewritten);
/// 4. the sidecar with exactly the new contents;
/// 5. removal of label areas of regions that are gone.
///
/// On load, labels decide which devices exist and what their ranges are; a sidecar entry without labels is
/// ignored, and labels without an entry give a device with the lowest free instance, enabled.
///
/// A label area that is full makes `commit` throw `.areaFull` with the files exactly as they were.
///
/// Migration: when the directory has no `regions.json` but a `state.json` from `JSONFileStateStore`, the
/// first `load()` writes the label areas and the sidecar from it, then renames it to `state.json.migrated`.
public final class LabelStateStore: StateStore {
    /// The sidecar's file name.
    public static let sidecarFileName = "regions.json"
    /// The file `JSONFileStateStore` kept, migrated on first load.
    public static let legacyFileName = "state.json"
    /// What `state.json` is renamed to once migrated.
    public static let migratedFileName = "state.json.migrated"
    /// The `isetcookie` of labels daxpool writes: the bytes `daxpool\0` read as a little-endian integer.
    public static let interleaveSetCookie: UInt64 = 0x006c_6f6f_7078_6164
    /// The label format of areas daxpool creates.
    public static let labelVersion = LabelVersion.v1Dot2

    /// The state directory.
    public let directory: String
    /// `directory` as a path, for the calls that take one.
    let directoryPath: FilePath
    /// The size of label areas this store creates.
    public let areaSize: Int
    let interposer: (any FileLabelStorage.WriteInterposer)?
    /// What is on disk as of the last successful load or commit; `nil` until the first one, and after a failed
    /// commit (the next operation reads the disk again).
    let loaded = Mutex<Loaded?>(nil)

    /// A store in `directory`, which `commit` creates (mode 0700) if it is missing.
    ///
    /// - Parameters:
    ///   - directory: The state directory.
    ///   - areaSize: The size of new label areas (at least 1 KiB; 128 KiB holds 510 labels).
    public convenience init(directory: String, areaSize: Int = FileLabelStorage.defaultSize) {
        self.init(directory: directory, areaSize: areaSize, interposer: nil)
    }

    /// A store whose writes all pass through `interposer` (tests: simulated crashes).
    init(directory: String, areaSize: Int, interposer: (any FileLabelStorage.WriteInterposer)?) {
        self.directory = directory
        self.directoryPath = FilePath(directory)
        self.areaSize = areaSize
        self.interposer = interposer
    }

    /// The file name of region `region`'s label area: `region<R>.labels`.
    public static func areaFileName(region: Int) -> String {
        "region\(region).labels"
    }

    /// Where region `region`'s label area is in `directory`, reading `regions.json` if it names another file.
    ///
    /// - Parameters:
    ///   - directory: A state directory.
    ///   - region: A region id.
    /// - Returns: The path of the area file (which may not exist).
    public static func areaPath(directory: String, region: Int) -> String {
        let sidecarPath = FilePath(directory).appending(sidecarFileName).string
        if let bytes = try? AtomicFile.read(path: sidecarPath), let sidecar = try? Sidecar.decode(bytes),
            let entry = sidecar.regions.first(where: { $0.config.id == region })
        {
            return FilePath(directory).appending(entry.labelArea.file).string
        }
        return FilePath(directory).appending(areaFileName(region: region)).string
    }

    /// Reads the state from the label areas and the sidecar (migrating `state.json` on first use).
    ///
    /// - Returns: The state, or `nil` when nothing was ever committed.
    /// - Throws: `LabelStateStoreError` naming the file that could not be read and what to do.
    public func load() throws(LabelStateStoreError) -> PoolSnapshot? {
        try loaded.withLock { loaded throws(LabelStateStoreError) -> PoolSnapshot? in
            loaded = nil
            let fresh = try readFromDisk()
            loaded = fresh
            return try fresh.snapshot()
        }
    }

    /// Writes `snapshot` durably and crash-safely (see the type's documentation for the order of writes).
    ///
    /// - Throws: `.areaFull` (nothing changed) when a region's label area has no room, or another
    ///   `LabelStateStoreError`; after an I/O failure the files still load as the state before or after.
    public func commit(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        try loaded.withLock { loaded throws(LabelStateStoreError) in
            var current: Loaded
            if let existing = loaded {
                current = existing
            } else {
                current = try readFromDisk()
            }
            loaded = nil
            do throws(LabelStateStoreError) {
                try apply(snapshot, to: &current)
            } catch {
                loaded = try? readFromDisk()
                throw error
            }
            loaded = current
        }
    }

    /// Throws `.areaFull` when committing `snapshot` would find a region's label area without room for its
    /// labels, and nothing otherwise; writes nothing. (Regions the snapshot adds get new, empty areas.)
    public func check(_ snapshot: PoolSnapshot) throws(LabelStateStoreError) {
        try loaded.withLock { loaded throws(LabelStateStoreError) in
            if loaded == nil { loaded = try readFromDisk() }
            guard let current = loaded else { return }
            for region in snapshot.regions {
                let id = region.config.id
                guard let store = current.areas[id] else { continue }
                let (puts, removes) = LabelStateStore.changes(
                    from: store.namespaces, to: try LabelStateStore.namespaces(of: region))
                guard !puts.isEmpty || !removes.isEmpty else { continue }
                do throws(LabelError) {
                    try store.check(puts: puts, removes: removes)
                } catch {
                    if case .areaFull(let needed, let free) = error {
                        throw .areaFull(
                            region: id, path: store.storage.path, needed: needed, free: free,
                            slotCount: Int(store.area.currentIndex.slotCount))
                    }
                    throw .label(path: store.storage.path, error)
                }
            }
        }
    }

    /// The namespaces to put and the uuids to remove to turn `stored` into `desired`.
    static func changes(from stored: [LabelledNamespace], to desired: [LabelledNamespace])
        -> (puts: [LabelledNamespace], removes: [LabelUUID])
    {
        let byUUID = Dictionary(stored.map { ($0.uuid, $0) }, uniquingKeysWith: { first, _ in first })
        let puts = desired.filter { byUUID[$0.uuid] != $0 }
        let kept = Set(desired.map(\.uuid))
        return (puts, stored.map(\.uuid).filter { !kept.contains($0) })
    }

    /// Where a region's label area is and how full it is, for `daxpool list -R`.
    ///
    /// - Parameter region: A region id.
    /// - Returns: The area, or `nil` if the region has none (unknown region, or state not loaded).
    public func labelArea(region: Int) -> AreaInfo? {
        loaded.withLock { loaded in
            guard let store = loaded?.areas[region] else {
                return nil
            }
            return AreaInfo(store)
        }
    }
}
