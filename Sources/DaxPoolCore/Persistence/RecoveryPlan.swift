/// Memory a backend holds for a device, as found on the system (a file backend's `daxR.N` file): evidence for
/// `daxpool recover`.
public struct HeldMemory: Hashable, Sendable {
    /// The device the memory is named for.
    public var device: DeviceID
    /// How much memory it holds, in bytes (a file's length).
    public var size: ByteCount
    /// Whether it is under its enabled name (`daxR.N`) rather than its disabled one.
    public var enabled: Bool
    /// The uid that owns it.
    public var owner: UInt32?

    /// Memory of `size` bytes held for `device`, under its enabled name or not, owned by `owner` when known.
    public init(device: DeviceID, size: ByteCount, enabled: Bool, owner: UInt32?) {
        self.device = device
        self.size = size
        self.enabled = enabled
        self.owner = owner
    }
}

/// Backends that can say what memory they hold for a region's devices.
public protocol MemoryInventory: Sendable {
    /// The device memory in the region, by device.
    func heldMemory(in region: RegionConfig) -> [HeldMemory]
}

/// One decision of a rebuild, with its reason.
public struct RecoveryDecision: Hashable, Sendable, Codable {
    /// What it is about: `daxR.N`, a uuid, or `region`.
    public var subject: String
    /// `keep`, `take-labels`, `take-journal`, `adopt`, `drop`, `rename`.
    public var action: String
    /// Why, in words the operator reads in `daxpool recover`'s output.
    public var reason: String

    /// A decision to take `action` on `subject`, because of `reason`.
    public init(subject: String, action: String, reason: String) {
        self.subject = subject
        self.action = action
        self.reason = reason
    }
}

/// How `daxpool recover` rebuilds a region in doubt from what survives: the journal's devices, the labels, and the
/// memory the backend holds. Labels are written after the journal, so where the two disagree the labels are the
/// newer word on a layout, unless the memory the backend holds has the journal's size. Nothing that holds memory is
/// left out silently: a device that cannot be placed is dropped from the state with a reason, and its memory is then
/// moved to lost+found by the next reconcile, never scrubbed.
public struct RecoveryPlan: Hashable, Sendable {
    /// The region as it would be rebuilt (not degraded).
    public var region: RegionSnapshot
    /// Every decision the rebuild takes, with its reason, in the order they were made.
    public var decisions: [RecoveryDecision]

    /// Plans the rebuild of `journal`'s region.
    ///
    /// - Parameters:
    ///   - journal: The region as the journal has it (possibly missing what lost records held).
    ///   - labels: The namespaces the region's label area holds, or `nil` when it is unreadable or missing.
    ///   - held: The memory the backend holds for devices of the region.
    public init(journal: RegionSnapshot, labels: [LabelledNamespace]?, held: [HeldMemory]) {
        var decisions: [RecoveryDecision] = []
        let region = journal.config.id
        let heldBy = Dictionary(held.map { ($0.device.instance, $0) }, uniquingKeysWith: { first, _ in first })
        let labelled = Dictionary((labels ?? []).map { ($0.uuid, $0) }, uniquingKeysWith: { first, _ in first })
        var chosen: [DeviceSnapshot] = []
        var placedUUIDs = Set<LabelUUID>()
        if labels == nil {
            decisions.append(
                RecoveryDecision(
                    subject: "region \(region)", action: "take-journal",
                    reason: "the label area is unreadable or missing: the journal's devices are kept as they are"))
        }
        for device in journal.devices {
            let id = device.record.id
            let journalSize = Self.size(device.extents)
            let onDisk = heldBy[id.instance]?.size
            guard let labels = labelled[device.record.uuid] else {
                let why =
                    labels == nil
                    ? "only the journal has it" : "the labels do not have it, but nothing says it was destroyed"
                decisions.append(
                    RecoveryDecision(subject: "\(id)", action: "keep", reason: "\(why); kept with its memory"))
                chosen.append(device)
                placedUUIDs.insert(device.record.uuid)
                continue
            }
            let labelExtents = labels.extents.map { Extent(start: RegionOffset($0.dpa), length: ByteCount($0.rawSize)) }
            var record = device.record
            if labelExtents == device.extents && labels.name == (record.name?.value ?? "")
                && labels.alignment == record.align.rawValue
            {
                decisions.append(
                    RecoveryDecision(subject: "\(id)", action: "keep", reason: "the journal and the labels agree"))
                chosen.append(device)
            } else if let onDisk, onDisk == journalSize, onDisk != Self.size(labelExtents) {
                decisions.append(
                    RecoveryDecision(
                        subject: "\(id)", action: "take-journal",
                        reason: "the labels say \(Self.size(labelExtents).rawValue) bytes, the journal and the memory "
                            + "held (\(onDisk.rawValue) bytes) agree"))
                chosen.append(device)
            } else {
                record.name = labels.name.isEmpty ? nil : try? DeviceName(loading: labels.name)
                record.align = Alignment(rawValue: labels.alignment) ?? record.align
                decisions.append(
                    RecoveryDecision(
                        subject: "\(id)", action: "take-labels",
                        reason: "the journal and the labels disagree; the labels are written after the journal, so "
                            + "they are the newer layout (\(Self.size(labelExtents).rawValue) bytes)"))
                chosen.append(DeviceSnapshot(record: record, extents: labelExtents))
            }
            placedUUIDs.insert(device.record.uuid)
        }
        // Devices only the labels know: the journal lost them.
        var taken = Set(chosen.map(\.record.id.instance))
        for namespace in (labels ?? []).sorted(by: { $0.uuid < $1.uuid }) where !placedUUIDs.contains(namespace.uuid) {
            let extents = namespace.extents.map { Extent(start: RegionOffset($0.dpa), length: ByteCount($0.rawSize)) }
            let size = Self.size(extents)
            let match = held.filter { $0.size == size && !taken.contains($0.device.instance) }
                .min { $0.device.instance < $1.device.instance }
            var instance = 0
            while taken.contains(instance) { instance += 1 }
            let chosenInstance = match?.device.instance ?? instance
            taken.insert(chosenInstance)
            let record = DeviceRecord(
                id: DeviceID(region: region, instance: chosenInstance),
                uuid: namespace.uuid,
                name: namespace.name.isEmpty ? nil : try? DeviceName(loading: namespace.name),
                align: Alignment(rawValue: namespace.alignment) ?? journal.config.pageSize,
                state: match.map { $0.enabled ? .enabled : .disabled } ?? .enabled,
                owner: match?.owner
            )
            decisions.append(
                RecoveryDecision(
                    subject: "\(record.id)", action: "adopt",
                    reason: "only the labels have \(namespace.uuid) (\(size.rawValue) bytes): the journal lost it; "
                        + (match.map { "the memory held as \($0.device) has its size, so it keeps that path and owner" }
                            ?? "no memory of its size is held, so it gets the lowest free number")))
            chosen.append(DeviceSnapshot(record: record, extents: extents))
        }
        // What cannot coexist: overlapping ranges, one uuid or name twice. The first in instance order stays.
        chosen.sort { $0.record.id.instance < $1.record.id.instance }
        var kept: [DeviceSnapshot] = []
        var names = Set<String>()
        var uuids = Set<LabelUUID>()
        for var device in chosen {
            let id = device.record.id
            if let other = kept.first(where: { Self.overlaps($0.extents, device.extents) }) {
                decisions.append(
                    RecoveryDecision(
                        subject: "\(id)", action: "drop",
                        reason: "its ranges overlap \(other.record.id)'s; it leaves the state and its memory goes to "
                            + "lost+found, untouched"))
                continue
            }
            if !uuids.insert(device.record.uuid).inserted {
                decisions.append(
                    RecoveryDecision(
                        subject: "\(id)", action: "drop",
                        reason: "another device has its uuid \(device.record.uuid); its memory goes to lost+found, "
                            + "untouched"))
                continue
            }
            if let name = device.record.name?.value, !names.insert(name).inserted {
                device.record.name = nil
                decisions.append(
                    RecoveryDecision(
                        subject: "\(id)", action: "rename",
                        reason: "another device is named '\(name)'; this one keeps no name"))
            }
            kept.append(device)
        }
        let pending = journal.pendingScrubs.filter { scrub in
            !kept.contains { Self.overlaps($0.extents, scrub.extents) }
        }
        for scrub in journal.pendingScrubs where !pending.contains(scrub) {
            decisions.append(
                RecoveryDecision(
                    subject: "scrub \(scrub.token)", action: "drop",
                    reason: "its memory belongs to a device again; it is not zeroed"))
        }
        self.region = RegionSnapshot(
            config: journal.config, devices: kept, badBlocks: journal.badBlocks, pendingScrubs: pending, degraded: nil)
        self.decisions = decisions
    }

    static func size(_ extents: [Extent]) -> ByteCount {
        ByteCount(extents.reduce(0) { $0 &+ $1.length.rawValue })
    }

    static func overlaps(_ left: [Extent], _ right: [Extent]) -> Bool {
        left.contains { a in
            right.contains { b in a.start.rawValue < b.end.rawValue && b.start.rawValue < a.end.rawValue }
        }
    }
}
