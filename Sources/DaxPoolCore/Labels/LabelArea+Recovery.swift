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
        let updatingBit = NamespaceLabel.Flags.updating.rawValue
        var groups: [LabelUUID: (updating: [NamespaceLabel], settled: [NamespaceLabel])] = [:]
        for label in labels {
            if label.flags.rawValue & updatingBit != 0 {
                groups[label.uuid, default: ([], [])].updating.append(label)
            } else {
                groups[label.uuid, default: ([], [])].settled.append(label)
            }
        }
        var namespaces: [LabelledNamespace] = []
        var incomplete: [LabelUUID] = []
        for (uuid, group) in groups {
            guard let set = completeSet(group.updating) ?? completeSet(group.settled) else {
                incomplete.append(uuid)
                continue
            }
            var extents: [LabelledNamespace.Extent] = []
            extents.reserveCapacity(set.count)
            for label in set {
                extents.append(LabelledNamespace.Extent(dpa: label.dpa, rawSize: label.rawSize))
            }
            namespaces.append(
                LabelledNamespace(
                    uuid: uuid,
                    name: set[0].name,
                    alignment: LabelledNamespace.alignment(forCode: set[0].alignment),
                    extents: extents
                )
            )
        }
        namespaces.sort { $0.uuid < $1.uuid }
        incomplete.sort()
        return (namespaces, incomplete)
    }

    /// The labels in position order if they form a complete set, else `nil`.
    private static func completeSet(_ labels: [NamespaceLabel]) -> [NamespaceLabel]? {
        guard let count = labels.first?.labelCount, count >= 1, labels.count == Int(count) else {
            return nil
        }
        var byPosition = [NamespaceLabel?](repeating: nil, count: Int(count))
        for label in labels {
            let position = Int(label.position)
            guard label.labelCount == count, position < byPosition.count, byPosition[position] == nil else {
                return nil
            }
            byPosition[position] = label
        }
        var ordered: [NamespaceLabel] = []
        ordered.reserveCapacity(byPosition.count)
        for label in byPosition {
            guard let label else {
                return nil
            }
            ordered.append(label)
        }
        return ordered
    }
}
