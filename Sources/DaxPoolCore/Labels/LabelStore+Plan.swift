/// One storage operation of an update.
enum LabelUpdateStep: Hashable, Sendable {
    /// Write `bytes` at `offset`.
    case write(offset: Int, bytes: [UInt8])
    /// Flush.
    case flush
}

/// The storage operations of one update and the area they leave behind.
struct LabelUpdatePlan: Hashable, Sendable {
    /// The operations, in order.
    var steps: [LabelUpdateStep]
    /// The decoded area after the last step.
    var area: LabelArea
}

extension LabelStore {
    /// Validates an update and computes its writes without touching the storage.
    ///
    /// - Returns: The plan, or `nil` when there is nothing to write.
    func makePlan(puts: [LabelledNamespace], removes: [LabelUUID]) throws(LabelError) -> LabelUpdatePlan? {
        let version = area.version
        var seen = Set<LabelUUID>()
        for namespace in puts {
            try LabelStore.validate(namespace, version: version)
            guard seen.insert(namespace.uuid).inserted else {
                throw .duplicateUUID(namespace.uuid)
            }
        }
        for uuid in removes {
            guard !uuid.isZero else {
                throw .zeroUUID
            }
            guard seen.insert(uuid).inserted else {
                throw .duplicateUUID(uuid)
            }
        }

        let labelsByUUID = Dictionary(grouping: area.activeLabels, by: \.uuid)
        let effectivePuts = puts.filter { namespace in
            !isStored(namespace, labels: labelsByUUID[namespace.uuid] ?? [])
        }
        let affected = Set(effectivePuts.map(\.uuid)).union(removes)
        let victims = area.activeLabels.filter { affected.contains($0.uuid) }.map { Int($0.slot) }
        let newCount = effectivePuts.reduce(0) { $0 + $1.extents.count }
        if newCount == 0 && victims.isEmpty {
            return nil
        }

        let current = area.currentIndex
        let freeSlots = current.freeSlots
        let needed = max(newCount, 2 * newCount - victims.count)
        guard freeSlots.count >= needed else {
            throw .areaFull(needed: needed, free: freeSlots.count)
        }

        let geometry = area.geometry
        let firstBlock = area.currentBlock
        let secondBlock = 1 - firstBlock
        var steps: [LabelUpdateStep] = []
        var blocks = area.blocks
        var labelsBySlot: [Int: NamespaceLabel] = [:]
        for label in area.activeLabels where !affected.contains(label.uuid) {
            labelsBySlot[Int(label.slot)] = label
        }

        var next = current.retargeted(toBlock: secondBlock, of: geometry)
        next.sequence = NamespaceIndex.nextSequence(after: current.sequence)
        let finalBlock: Int
        let finalIndex: NamespaceIndex

        if newCount == 0 {
            for slot in victims {
                next.setFree(true, slot: slot)
            }
            steps.append(.write(offset: geometry.indexOffset(ofBlock: secondBlock), bytes: next.encode()))
            steps.append(.flush)
            blocks[secondBlock] = .success(next)
            finalBlock = secondBlock
            finalIndex = next
        } else {
            // Pass 1: UPDATING labels into slots free in the current index; the index write commits them.
            let firstSlots = Array(freeSlots.prefix(newCount))
            for label in makeLabels(effectivePuts, flags: .updating, slots: firstSlots, version: version) {
                let bytes = try label.encode(version: version)
                steps.append(.write(offset: geometry.offset(ofSlot: Int(label.slot)), bytes: bytes))
                next.setFree(false, slot: Int(label.slot))
            }
            steps.append(.flush)
            for slot in victims {
                next.setFree(true, slot: slot)
            }
            steps.append(.write(offset: geometry.indexOffset(ofBlock: secondBlock), bytes: next.encode()))

            // Pass 2: settled labels, preferably in slots free in both the old and the pass-1 index.
            let freeInBoth = freeSlots.dropFirst(newCount)
            let secondSlots: [Int]
            if freeInBoth.count >= newCount {
                secondSlots = Array(freeInBoth.prefix(newCount))
            } else {
                steps.append(.flush)
                secondSlots = Array(next.freeSlots.prefix(newCount))
            }
            var last = next.retargeted(toBlock: firstBlock, of: geometry)
            last.sequence = NamespaceIndex.nextSequence(after: next.sequence)
            for label in makeLabels(effectivePuts, flags: [], slots: secondSlots, version: version) {
                let bytes = try label.encode(version: version)
                steps.append(.write(offset: geometry.offset(ofSlot: Int(label.slot)), bytes: bytes))
                last.setFree(false, slot: Int(label.slot))
                labelsBySlot[Int(label.slot)] = label
            }
            steps.append(.flush)
            for slot in firstSlots {
                last.setFree(true, slot: slot)
            }
            steps.append(.write(offset: geometry.indexOffset(ofBlock: firstBlock), bytes: last.encode()))
            steps.append(.flush)
            blocks[secondBlock] = .success(next)
            blocks[firstBlock] = .success(last)
            finalBlock = firstBlock
            finalIndex = last
        }

        let active = labelsBySlot.values.sorted { $0.slot < $1.slot }
        let assembled = LabelArea.assembleNamespaces(from: active)
        let newArea = LabelArea(
            geometry: geometry,
            blocks: blocks,
            currentBlock: finalBlock,
            currentIndex: finalIndex,
            activeLabels: active,
            rejectedSlots: area.rejectedSlots,
            namespaces: assembled.namespaces,
            incompleteUUIDs: assembled.incomplete
        )
        return LabelUpdatePlan(steps: steps, area: newArea)
    }

    /// Checks a namespace against what labels of `version` can represent and what `slot_valid()` accepts.
    static func validate(_ namespace: LabelledNamespace, version: LabelVersion) throws(LabelError) {
        let uuid = namespace.uuid
        guard !uuid.isZero else {
            throw .zeroUUID
        }
        try NamespaceLabel.validateName(namespace.name)
        guard !namespace.extents.isEmpty else {
            throw .noExtents(uuid: uuid)
        }
        guard namespace.extents.count <= Int(UInt16.max) else {
            throw .tooManyExtents(uuid: uuid, count: namespace.extents.count)
        }
        for extent in namespace.extents {
            guard extent.rawSize > 0 else {
                throw .emptyExtent(uuid: uuid, dpa: extent.dpa)
            }
            guard (extent.dpa | extent.rawSize) % NamespaceLabel.extentAlignment == 0 else {
                throw .extentMisaligned(uuid: uuid, dpa: extent.dpa, rawSize: extent.rawSize)
            }
        }
        guard let code = namespace.alignmentCode else {
            throw .invalidAlignment(uuid: uuid, alignment: namespace.alignment)
        }
        guard code == 0 || version == .v1Dot2 else {
            throw .alignmentNotStorable(uuid: uuid, version: version)
        }
    }

    /// The labels for `namespaces`, one per extent, placed into `slots` in order.
    func makeLabels(
        _ namespaces: [LabelledNamespace],
        flags: NamespaceLabel.Flags,
        slots: [Int],
        version: LabelVersion
    ) -> [NamespaceLabel] {
        var labels: [NamespaceLabel] = []
        var slotIterator = slots.makeIterator()
        for namespace in namespaces {
            for (position, extent) in namespace.extents.enumerated() {
                guard let slot = slotIterator.next() else {
                    return labels
                }
                labels.append(
                    makeLabel(namespace, extent: extent, position: position, flags: flags, slot: slot, version: version)
                )
            }
        }
        return labels
    }

    /// Whether the settled labels of `namespace` are exactly what an update would write (apart from slots).
    private func isStored(_ namespace: LabelledNamespace, labels: [NamespaceLabel]) -> Bool {
        guard labels.count == namespace.extents.count else {
            return false
        }
        let version = area.version
        let sorted = labels.sorted { $0.position < $1.position }
        for (position, label) in sorted.enumerated() {
            let wanted = makeLabel(
                namespace, extent: namespace.extents[position], position: position, flags: [], slot: Int(label.slot),
                version: version
            )
            guard label == wanted else {
                return false
            }
        }
        return true
    }

    private func makeLabel(
        _ namespace: LabelledNamespace,
        extent: LabelledNamespace.Extent,
        position: Int,
        flags: NamespaceLabel.Flags,
        slot: Int,
        version: LabelVersion
    ) -> NamespaceLabel {
        let isVersion1Dot2 = version == .v1Dot2
        return NamespaceLabel(
            uuid: namespace.uuid,
            name: namespace.name,
            flags: flags,
            labelCount: UInt16(namespace.extents.count),
            position: UInt16(position),
            interleaveSetCookie: interleaveSetCookie,
            logicalBlockSize: 0,
            dpa: extent.dpa,
            rawSize: extent.rawSize,
            slot: UInt32(slot),
            alignment: isVersion1Dot2 ? namespace.alignmentCode ?? 0 : 0,
            typeGUID: isVersion1Dot2 ? .persistentMemoryRegionType : .zero,
            abstractionGUID: isVersion1Dot2 ? .daxAbstraction : .zero
        )
    }
}
