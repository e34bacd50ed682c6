extension LabelArea {
    /// Assembles namespaces from active labels.
    ///
    /// The rule, which makes recovery after a crash yield either the state before an update or the state
    /// after it, never a mix:
    ///
    /// 1. Group the active labels by UUID, and split each group into labels with `UPDATING` and without.
    /// 2. A part is a *complete set* when it has exactly `nlabel` ≥ 1 labels, all with the same `nlabel`,
    ///    and positions `0..<nlabel` each exactly once.
    /// 3. A complete `UPDATING` set wins: an index commit makes it visible in the same write that frees the
    ///    old set, so it is the newer intent (the update's first pass committed; roll forward).
    /// 4. Otherwise a complete set without `UPDATING` is the namespace; an incomplete `UPDATING` part is
    ///    ignored (roll back).
    /// 5. Otherwise the UUID has no namespace and is reported in `incompleteUUIDs`.
    ///
    /// The name and alignment come from the label at position 0; extents are in position order.
    ///
    /// - Parameter labels: Active labels.
    /// - Returns: Namespaces sorted by UUID, and the sorted UUIDs that form no complete set.
    static func assembleNamespaces(
        from labels: [NamespaceLabel]
    ) -> (namespaces: [LabelledNamespace], incomplete: [LabelUUID]) {
        var groups: [LabelUUID: [NamespaceLabel]] = [:]
        for label in labels {
            groups[label.uuid, default: []].append(label)
        }
        var namespaces: [LabelledNamespace] = []
        var incomplete: [LabelUUID] = []
        for (uuid, group) in groups {
            let updating = group.filter { $0.flags.contains(.updating) }
            let settled = group.filter { !$0.flags.contains(.updating) }
            if let set = completeSet(updating) ?? completeSet(settled) {
                namespaces.append(
                    LabelledNamespace(
                        uuid: uuid,
                        name: set[0].name,
                        alignment: LabelledNamespace.alignment(forCode: set[0].alignment),
                        extents: set.map { LabelledNamespace.Extent(dpa: $0.dpa, rawSize: $0.rawSize) }
                    )
                )
            } else {
                incomplete.append(uuid)
            }
        }
        namespaces.sort { $0.uuid < $1.uuid }
        incomplete.sort()
        return (namespaces, incomplete)
    }

    /// The labels sorted by position if they form a complete set, else `nil`.
    private static func completeSet(_ labels: [NamespaceLabel]) -> [NamespaceLabel]? {
        guard let count = labels.first?.labelCount, count >= 1, labels.count == Int(count) else {
            return nil
        }
        let sorted = labels.sorted { $0.position < $1.position }
        for (position, label) in sorted.enumerated() {
            guard label.labelCount == count, Int(label.position) == position else {
                return nil
            }
        }
        return sorted
    }
}
