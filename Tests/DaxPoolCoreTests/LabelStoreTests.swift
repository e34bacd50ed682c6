import DaxPoolCore
import PropertyBased
import Testing

@Suite("LabelStore", .timeLimit(.minutes(20)))
struct LabelStoreTests {
    typealias Support = LabelTestSupport
    static let cookie = LabelTestSupport.cookie

    static func formatted(size: Int = 16 * 1024, version: LabelVersion = .v1Dot2) throws -> LabelStore<
        InMemoryLabelStorageFake
    > {
        try LabelStore(formatting: InMemoryLabelStorageFake(size: size), version: version, interleaveSetCookie: cookie)
    }

    static func reopened(_ bytes: [UInt8]) throws -> LabelStore<InMemoryLabelStorageFake> {
        try LabelStore(opening: InMemoryLabelStorageFake(bytes: bytes), interleaveSetCookie: cookie)
    }

    /// The in-memory view must equal what a fresh decode of the storage yields.
    static func expectConsistent(_ store: LabelStore<InMemoryLabelStorageFake>) throws {
        #expect(try LabelArea.decode(store.storage.bytes) == store.area)
    }

    @Test("formats a zeroed storage the way ndctl init-labels does")
    func formatsBlankStorage() throws {
        let store = try LabelStore(
            openingOrFormatting: InMemoryLabelStorageFake(size: 16 * 1024), version: .v1Dot2,
            interleaveSetCookie: Self.cookie
        )
        #expect(store.storage.bytes == (try LabelArea.initializedBytes(configSize: 16 * 1024, version: .v1Dot2)))
        #expect(store.storage.flushCount == 1)
        #expect(store.area.currentBlock == 0)
        #expect(store.namespaces.isEmpty)
        #expect(store.freeSlotCount == 62)
        let again = try LabelStore(
            openingOrFormatting: store.storage, version: .v1Dot1, interleaveSetCookie: Self.cookie
        )
        #expect(again.version == .v1Dot2)
        #expect(again.storage.writes.count == 1)
    }

    @Test("refuses to format or open a storage that is neither initialized nor zero")
    func refusesGarbage() {
        var garbage = InMemoryLabelStorageFake(size: 8192)
        garbage.bytes[5000] = 1
        #expect(
            throws: LabelError.noValidIndex(
                block0: .indexSignatureInvalid(block: 0), block1: .indexSignatureInvalid(block: 1))
        ) {
            try LabelStore(openingOrFormatting: garbage, version: .v1Dot2, interleaveSetCookie: Self.cookie)
        }
        #expect(throws: LabelError.self) {
            try LabelStore(opening: InMemoryLabelStorageFake(size: 8192), interleaveSetCookie: Self.cookie)
        }
    }

    @Test("put writes one label per extent with the pmem type GUID, the DAX GUID, the cookie and lbasize 0")
    func putWritesLabels() throws {
        var store = try Self.formatted()
        let namespace = Support.namespace(Support.uuid(1), name: "vm-disk", alignment: 2 << 20, extents: 3, base: 512)
        try store.put(namespace)
        #expect(store.namespaces == [namespace])
        #expect(store.namespace(withUUID: namespace.uuid) == namespace)
        try Self.expectConsistent(store)
        #expect(try Self.reopened(store.storage.bytes).namespaces == [namespace])
        let labels = store.area.activeLabels
        #expect(labels.count == 3)
        for label in labels {
            #expect(label.flags == [])
            #expect(label.labelCount == 3)
            #expect(label.interleaveSetCookie == Self.cookie)
            #expect(label.logicalBlockSize == 0)
            #expect(label.alignment == 21)
            #expect(label.typeGUID == .persistentMemoryRegionType)
            #expect(label.abstractionGUID == .daxAbstraction)
            #expect(label.name == "vm-disk")
        }
        #expect(labels.sorted { $0.position < $1.position }.map(\.dpa) == namespace.extents.map(\.dpa))
    }

    @Test("an update writes UPDATING labels, commits the next index, then rewrites them settled and commits back")
    func twoPassProtocol() throws {
        var store = try Self.formatted()
        let namespace = Support.namespace(Support.uuid(2), extents: 2)
        try store.put(namespace)
        let geometry = store.area.geometry
        let events = store.storage.events.dropFirst(2)  // the format write and its flush
        let slot0 = geometry.offset(ofSlot: 0)
        let slot1 = geometry.offset(ofSlot: 1)
        let slot2 = geometry.offset(ofSlot: 2)
        let slot3 = geometry.offset(ofSlot: 3)
        #expect(
            events.map(Self.shape) == [
                "write \(slot0)", "write \(slot1)", "flush", "write 256", "write \(slot2)", "write \(slot3)", "flush",
                "write 0", "flush",
            ])
        let writes = events.compactMap { event -> [UInt8]? in
            if case .write(_, let bytes) = event { return bytes }
            return nil
        }
        #expect(try NamespaceLabel.parse(writes[0], version: .v1Dot2).flags == .updating)
        #expect(try NamespaceLabel.parse(writes[4], version: .v1Dot2).flags == [])
        let first = try NamespaceIndex.decode(writes[2], block: 1, geometry: geometry)
        let second = try NamespaceIndex.decode(writes[5], block: 0, geometry: geometry)
        #expect(first.sequence == 1 && first.usedSlots == [0, 1])
        #expect(second.sequence == 2 && second.usedSlots == [2, 3])
        #expect(store.area.currentBlock == 0)
    }

    static func shape(_ event: InMemoryLabelStorageFake.Event) -> String {
        switch event {
        case .write(let offset, _): return "write \(offset)"
        case .flush: return "flush"
        }
    }

    @Test("replacing a namespace frees every old label")
    func replaceFreesOldLabels() throws {
        var store = try Self.formatted()
        let uuid = Support.uuid(3)
        try store.put(Support.namespace(uuid, extents: 3))
        let smaller = Support.namespace(uuid, name: "smaller", extents: 1, base: 4096)
        try store.put(smaller)
        #expect(store.namespaces == [smaller])
        #expect(store.freeSlotCount == 61)
        #expect(store.area.activeLabels.count == 1)
        try Self.expectConsistent(store)
    }

    @Test("removing a namespace writes the next index once; removing an absent one writes nothing")
    func removeWritesIndexOnce() throws {
        var store = try Self.formatted()
        let uuid = Support.uuid(4)
        try store.put(Support.namespace(uuid, extents: 2))
        let before = store.storage.events.count
        try store.remove(uuid: uuid)
        #expect(store.storage.events.dropFirst(before).map(Self.shape) == ["write 256", "flush"])
        #expect(store.namespaces.isEmpty && store.freeSlotCount == 62)
        #expect(store.area.currentBlock == 1)
        try Self.expectConsistent(store)
        let after = store.storage.events.count
        try store.remove(uuid: uuid)
        #expect(store.storage.events.count == after)
    }

    @Test("putting a namespace exactly as stored writes nothing")
    func unchangedPutIsFree() throws {
        var store = try Self.formatted()
        let namespace = Support.namespace(Support.uuid(5), extents: 2)
        try store.put(namespace)
        let count = store.storage.events.count
        try store.put(namespace)
        try store.apply(puts: [namespace], removes: [Support.uuid(99)])
        #expect(store.storage.events.count == count)
        var otherCookie = try LabelStore(opening: store.storage, interleaveSetCookie: 7)
        try otherCookie.put(namespace)
        #expect(otherCookie.area.activeLabels.allSatisfy { $0.interleaveSetCookie == 7 })
    }

    @Test("apply creates, replaces and removes several namespaces in one commit")
    func applyIsOneCommit() throws {
        var store = try Self.formatted()
        let (a, b, c) = (Support.uuid(6), Support.uuid(7), Support.uuid(8))
        try store.apply(puts: [Support.namespace(a, extents: 1), Support.namespace(b, extents: 2)], removes: [])
        let before = store.storage.events.count
        let newA = Support.namespace(a, name: "a2", extents: 2)
        let newC = Support.namespace(c, extents: 3)
        try store.apply(puts: [newA, newC], removes: [b])
        let shapes = store.storage.events.dropFirst(before).map(Self.shape)
        #expect(shapes.filter { $0 == "write 0" || $0 == "write 256" }.count == 2)
        #expect(shapes.filter { $0 == "flush" }.count == 3)
        #expect(store.namespaces == [newA, newC].sorted { $0.uuid < $1.uuid })
        try Self.expectConsistent(store)
    }

    @Test("a nearly full area falls back to the kernel's slot choice behind an extra flush")
    func nearlyFullFallback() throws {
        var store = try Self.formatted(size: 4096)
        #expect(store.freeSlotCount == 14)
        let uuid = Support.uuid(9)
        try store.put(Support.namespace(uuid, extents: 7))
        let before = store.storage.flushCount
        let moved = Support.namespace(uuid, extents: 7, base: 1 << 12)
        try store.put(moved)
        #expect(store.storage.flushCount - before == 4)
        #expect(store.namespaces == [moved])
        #expect(try Self.reopened(store.storage.bytes).namespaces == [moved])
        try Self.expectConsistent(store)
    }

    @Test("a full area throws areaFull and leaves every byte unchanged, also when only pass 2 would not fit")
    func areaFull() throws {
        var store = try Self.formatted(size: 4096)
        try store.put(Support.namespace(Support.uuid(10), extents: 7))
        let bytes = store.storage.bytes
        let events = store.storage.events
        #expect(throws: LabelError.areaFull(needed: 8, free: 7)) {
            try store.put(Support.namespace(Support.uuid(11), extents: 4))
        }
        #expect(throws: LabelError.areaFull(needed: 16, free: 7)) {
            try store.put(Support.namespace(Support.uuid(11), extents: 8))
        }
        #expect(store.storage.bytes == bytes)
        #expect(store.storage.events == events)
        try store.put(Support.namespace(Support.uuid(11), extents: 3))
        #expect(store.freeSlotCount == 4)
    }

    @Test("rejects namespaces that labels cannot represent, before writing anything")
    func rejectsInvalid() throws {
        var store = try Self.formatted()
        let uuid = Support.uuid(12)
        let good = Support.namespace(uuid, extents: 1)
        let events = store.storage.events
        func failure(_ puts: [LabelledNamespace], _ removes: [LabelUUID] = []) -> LabelError? {
            do {
                try store.apply(puts: puts, removes: removes)
                return nil
            } catch {
                return error
            }
        }
        var zero = good
        zero.uuid = .zero
        #expect(failure([zero]) == .zeroUUID)
        #expect(failure([], [.zero]) == .zeroUUID)
        #expect(failure([good, good]) == .duplicateUUID(uuid))
        #expect(failure([good], [uuid]) == .duplicateUUID(uuid))
        #expect(failure([LabelledNamespace(uuid: uuid, extents: [])]) == .noExtents(uuid: uuid))
        let many = [LabelledNamespace.Extent](repeating: .init(dpa: 0, rawSize: 4096), count: 65536)
        #expect(failure([LabelledNamespace(uuid: uuid, extents: many)]) == .tooManyExtents(uuid: uuid, count: 65536))
        #expect(
            failure([LabelledNamespace(uuid: uuid, extents: [.init(dpa: 512, rawSize: 4096)])])
                == .extentMisaligned(uuid: uuid, dpa: 512, rawSize: 4096)
        )
        #expect(
            failure([LabelledNamespace(uuid: uuid, extents: [.init(dpa: 0, rawSize: 0)])])
                == .emptyExtent(uuid: uuid, dpa: 0))
        for alignment: UInt64 in [1, 3, 4097] {
            var odd = good
            odd.alignment = alignment
            #expect(failure([odd]) == .invalidAlignment(uuid: uuid, alignment: alignment))
        }
        var named = good
        named.name = String(repeating: "n", count: 64)
        #expect(failure([named]) == .nameTooLong(name: named.name, byteCount: 64))
        #expect(store.storage.events == events)

        var old = try Self.formatted(version: .v1Dot1)
        var aligned = good
        aligned.alignment = 4096
        #expect(throws: LabelError.alignmentNotStorable(uuid: uuid, version: .v1Dot1)) { try old.put(aligned) }
        try old.put(good)
        #expect(try Self.reopened(old.storage.bytes).namespaces == [good])
    }

    @Test(
        "opens the kernel-written fixture and keeps its namespaces across v1.1 updates",
        .enabled(if: LabelFixture.isPresent, LabelFixture.absent)
    )
    func updatesFixture() throws {
        var store = try LabelStore(
            opening: InMemoryLabelStorageFake(bytes: LabelFixture.load()), interleaveSetCookie: Self.cookie)
        #expect(store.namespaces == [LabelAreaTests.second, LabelAreaTests.third])
        let kernelLabels = store.area.activeLabels
        let added = Support.namespace(Support.uuid(13), name: "added", extents: 2, base: 1024)
        try store.put(added)
        var reopened = try Self.reopened(store.storage.bytes)
        #expect(reopened.version == .v1Dot1)
        #expect(
            reopened.namespaces == [LabelAreaTests.second, LabelAreaTests.third, added].sorted { $0.uuid < $1.uuid })
        #expect(reopened.area.currentBlock == 1)
        #expect(kernelLabels.allSatisfy { reopened.area.activeLabels.contains($0) })
        try reopened.remove(uuid: LabelAreaTests.third.uuid)
        let final = try Self.reopened(reopened.storage.bytes)
        #expect(final.namespaces == [LabelAreaTests.second, added].sorted { $0.uuid < $1.uuid })
        #expect(final.area.currentBlock == 0)
    }

    @Test("after a storage failure the store re-reads the area and the next update succeeds")
    func recoversFromStorageFailure() throws {
        for failingWrite in 0..<6 {
            var store = try LabelStore(
                formatting: FlakyLabelStorageFake(size: 8192, failingWrite: failingWrite + 2),  // write 1 formats
                version: .v1Dot2,
                interleaveSetCookie: Self.cookie
            )
            let first = Support.namespace(Support.uuid(14), extents: 2)
            let second = Support.namespace(Support.uuid(15), extents: 1)
            #expect(throws: LabelError.self) { try store.put(first) }
            let recovered = store.namespaces
            #expect(recovered == [] || recovered == [first], "failing write \(failingWrite)")
            try store.put(second)
            let expected = (recovered + [second]).sorted { $0.uuid < $1.uuid }
            #expect(store.namespaces == expected)
            #expect(try Self.reopened(store.storage.bytes).namespaces == expected)
        }
    }

    enum Operation: Sendable {
        case put(Int, extents: Int, base: UInt64)
        case remove(Int)
    }

    static let operations = Generator(run: { rng in
        (0..<Int(rng.next() % 12 + 1)).map { _ -> Operation in
            let uuid = Int(rng.next() % 4)
            if rng.next() % 3 == 0 {
                return .remove(uuid)
            }
            return .put(uuid, extents: Int(rng.next() % 4 + 1), base: rng.next() % 1024)
        }
    })

    @Test("random sequences of puts and removes read back as the model says")
    func matchesModel() async {
        await propertyCheck(count: 40, input: Self.operations) { operations throws in
            var store = try Self.formatted()
            var model: [LabelUUID: LabelledNamespace] = [:]
            for operation in operations {
                switch operation {
                case .put(let index, let extents, let base):
                    let namespace = Support.namespace(Support.uuid(UInt64(100 + index)), extents: extents, base: base)
                    try store.put(namespace)
                    model[namespace.uuid] = namespace
                case .remove(let index):
                    try store.remove(uuid: Support.uuid(UInt64(100 + index)))
                    model[Support.uuid(UInt64(100 + index))] = nil
                }
                let expected = model.values.sorted { $0.uuid < $1.uuid }
                #expect(store.namespaces == expected)
                #expect(try Self.reopened(store.storage.bytes).namespaces == expected)
                try Self.expectConsistent(store)
            }
        }
    }
}

/// A fake whose `failingWrite`-th write (1-based) lands half its bytes and throws; every other call works.
struct FlakyLabelStorageFake: LabelStorage, Sendable {
    var bytes: [UInt8]
    let failingWrite: Int
    private(set) var writesSeen = 0

    init(size: Int, failingWrite: Int) {
        bytes = [UInt8](repeating: 0, count: size)
        self.failingWrite = failingWrite
    }

    var size: Int { bytes.count }

    mutating func read(offset: Int, count: Int) throws(LabelError) -> [UInt8] {
        Array(bytes[offset..<(offset + count)])
    }

    mutating func write(offset: Int, bytes newBytes: [UInt8]) throws(LabelError) {
        writesSeen += 1
        let landed = writesSeen == failingWrite ? newBytes.count / 2 : newBytes.count
        bytes.replaceSubrange(offset..<(offset + landed), with: newBytes[0..<landed])
        if landed < newBytes.count {
            throw .storageFailed(operation: .write, offset: offset, count: newBytes.count, errorNumber: 5)
        }
    }

    mutating func flush() throws(LabelError) {}
}
