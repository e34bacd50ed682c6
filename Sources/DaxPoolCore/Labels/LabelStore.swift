/// A crash-safe store of namespaces in one label storage area, updated with the kernel's two-pass protocol.
///
/// Every update (`apply(puts:removes:)`) follows `__pmem_label_update()` / `del_labels()`:
///
/// * **Pass 1.** Write the new labels with `UPDATING` into the first free slots of the current index,
///   flush; in the next index mark them used and free every old label of the affected UUIDs, write the
///   next index at the other block with `seq = inc(seq)`. This index write is the commit point.
/// * **Pass 2.** Write the labels again with flags 0 into further free slots, flush; free the pass-1 slots
///   and write the index back to the first block with `seq = inc(seq)`, flush.
/// * **Removal only.** Free the labels in the next index, write it once, flush.
///
/// Ordering: labels are flushed before the index that makes them visible. Pass 2 uses slots free in both
/// the index that was current before the update and the pass-1 index, so its labels cannot damage either
/// state and need no flush after the pass-1 index; only when too few such slots exist does it fall back to
/// the kernel's choice (first free slots of the pass-1 index) with an extra flush first. An update thus
/// costs three flushes (four on that fallback); a removal costs one.
///
/// Before writing anything an update checks that both passes fit; if not it throws
/// `LabelError.areaFull` and writes nothing. Recovery (`LabelArea+Recovery.swift`) yields either the state
/// before or the state after an interrupted update. If the storage throws during an update, the store
/// re-reads the area before its next update.
///
/// New labels carry the store's interleave-set cookie, `lbasize` 0 and, in v1.2, the persistent-memory
/// type GUID and the device-dax abstraction GUID.
public struct LabelStore<Storage: LabelStorage> {
    /// The storage the area lives in.
    public private(set) var storage: Storage
    /// The `isetcookie` written into new labels.
    public let interleaveSetCookie: UInt64
    /// The decoded area as it is on the storage after the last successful operation.
    public private(set) var area: LabelArea
    private var needsReload = false

    /// Opens an existing area.
    ///
    /// Reads the whole area, decodes it and flushes once, so that writes another process left unflushed
    /// are durable before this store builds on them.
    ///
    /// - Parameters:
    ///   - storage: The storage holding the area.
    ///   - interleaveSetCookie: The cookie to write into new labels.
    /// - Throws: `LabelError.noValidIndex` if the area is not initialized, or a storage error.
    public init(opening storage: Storage, interleaveSetCookie: UInt64) throws(LabelError) {
        var storage = storage
        let bytes = try LabelStore.readAll(&storage)
        let area = try LabelArea.decode(bytes)
        try storage.flush()
        self.init(storage: storage, area: area, interleaveSetCookie: interleaveSetCookie)
    }

    /// Initializes the area the way `ndctl init-labels` does, destroying whatever it held.
    ///
    /// The whole area is written in one write and flushed. This is not crash-atomic: if it is interrupted,
    /// format again.
    ///
    /// - Parameters:
    ///   - storage: The storage to format.
    ///   - version: The label format.
    ///   - interleaveSetCookie: The cookie to write into new labels.
    /// - Throws: `LabelError.areaSizeInvalid` if the storage is too small, or a storage error.
    public init(formatting storage: Storage, version: LabelVersion, interleaveSetCookie: UInt64) throws(LabelError) {
        var storage = storage
        let bytes = try LabelArea.initializedBytes(configSize: storage.size, version: version)
        try storage.write(offset: 0, bytes: bytes)
        try storage.flush()
        let area = try LabelArea.decode(bytes, version: version)
        self.init(storage: storage, area: area, interleaveSetCookie: interleaveSetCookie)
    }

    /// Opens the area, or formats it if it has no valid index block and every byte is zero.
    ///
    /// An existing area keeps its own version; `version` only applies to a blank one.
    ///
    /// - Parameters:
    ///   - storage: The storage holding the area.
    ///   - version: The label format for a blank area.
    ///   - interleaveSetCookie: The cookie to write into new labels.
    /// - Throws: `LabelError.noValidIndex` if the area is neither valid nor blank, or a storage error.
    public init(
        openingOrFormatting storage: Storage,
        version: LabelVersion,
        interleaveSetCookie: UInt64
    ) throws(LabelError) {
        var storage = storage
        let bytes = try LabelStore.readAll(&storage)
        let area: LabelArea
        do throws(LabelError) {
            area = try LabelArea.decode(bytes)
        } catch {
            guard case .noValidIndex = error, bytes.allSatisfy({ $0 == 0 }) else {
                throw error
            }
            try self.init(formatting: storage, version: version, interleaveSetCookie: interleaveSetCookie)
            return
        }
        try storage.flush()
        self.init(storage: storage, area: area, interleaveSetCookie: interleaveSetCookie)
    }

    private init(storage: Storage, area: LabelArea, interleaveSetCookie: UInt64) {
        self.storage = storage
        self.area = area
        self.interleaveSetCookie = interleaveSetCookie
    }

    /// The label format of the area.
    public var version: LabelVersion {
        area.version
    }

    /// The namespaces on the storage, sorted by UUID.
    public var namespaces: [LabelledNamespace] {
        area.namespaces
    }

    /// The namespace with `uuid`, if there is one.
    ///
    /// - Parameter uuid: The namespace UUID.
    public func namespace(withUUID uuid: LabelUUID) -> LabelledNamespace? {
        area.namespaces.first { $0.uuid == uuid }
    }

    /// Checks that `apply(puts:removes:)` would succeed as far as the area can tell (valid namespaces, enough free
    /// slots for both passes), writing nothing.
    /// - Throws: What `apply` would throw before its first write, such as `LabelError.areaFull`.
    public func check(puts: [LabelledNamespace], removes: [LabelUUID]) throws(LabelError) {
        _ = try makePlan(puts: puts, removes: removes)
    }

    /// The number of free slots in the current index.
    public var freeSlotCount: Int {
        area.currentIndex.freeSlots.count
    }

    /// Creates the namespace, or replaces every label of the namespace with the same UUID.
    ///
    /// - Parameter namespace: The namespace as it should be stored.
    /// - Throws: A validation error or `LabelError.areaFull` before any write, or a storage error.
    public mutating func put(_ namespace: LabelledNamespace) throws(LabelError) {
        try apply(puts: [namespace], removes: [])
    }

    /// Removes the namespace with `uuid`; does nothing if there is none.
    ///
    /// - Parameter uuid: The namespace UUID.
    /// - Throws: A storage error.
    public mutating func remove(uuid: LabelUUID) throws(LabelError) {
        try apply(puts: [], removes: [uuid])
    }

    /// Creates or replaces `puts` and removes `removes` in one atomic update.
    ///
    /// A put equal to what is stored, and a removal of a UUID with no labels, write nothing; an update
    /// left with nothing to do writes nothing at all.
    ///
    /// - Parameters:
    ///   - puts: Namespaces to create or replace; UUIDs must be distinct and non-zero.
    ///   - removes: UUIDs to remove; distinct from each other and from `puts`.
    /// - Throws: A validation error or `LabelError.areaFull` before any write, or a storage error.
    public mutating func apply(puts: [LabelledNamespace], removes: [LabelUUID]) throws(LabelError) {
        if needsReload {
            try reload()
        }
        guard let plan = try makePlan(puts: puts, removes: removes) else {
            return
        }
        do throws(LabelError) {
            for step in plan.steps {
                switch step {
                case .write(let offset, let bytes):
                    try storage.write(offset: offset, bytes: bytes)
                case .flush:
                    try storage.flush()
                }
            }
        } catch {
            needsReload = true
            try? reload()
            throw error
        }
        area = plan.area
    }

    /// Re-reads and decodes the area from the storage, then flushes.
    ///
    /// - Throws: `LabelError.noValidIndex` or a storage error.
    public mutating func reload() throws(LabelError) {
        let bytes = try LabelStore.readAll(&storage)
        area = try LabelArea.decode(bytes)
        try storage.flush()
        needsReload = false
    }

    private static func readAll(_ storage: inout Storage) throws(LabelError) -> [UInt8] {
        let size = storage.size
        let bytes = try storage.read(offset: 0, count: size)
        guard bytes.count == size else {
            throw .storageShortRead(offset: 0, expected: size, found: bytes.count)
        }
        return bytes
    }
}

extension LabelStore: Sendable where Storage: Sendable {}
