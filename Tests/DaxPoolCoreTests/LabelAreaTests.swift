import DaxPoolCore
import PropertyBased
import Testing

@Suite("LabelArea", .timeLimit(.minutes(20)))
struct LabelAreaTests {
    static let second = LabelledNamespace(
        uuid: LabelUUID(high: 0x5b40_5e8d_700e_4499, low: 0x9e09_1967_d563_7178),
        name: "second",
        extents: [.init(dpa: 0x1000_0000, rawSize: 0x1000_0000)]
    )
    static let third = LabelledNamespace(
        uuid: LabelUUID(high: 0x9ee6_e7bc_130d_4dda, low: 0x9cf4_a687_1499_a014),
        name: "third",
        extents: [.init(dpa: 0x2000_0000, rawSize: 0x800_0000)]
    )

    @Test(
        "decodes the kernel-written 128 KiB v1.1 fixture exactly",
        .enabled(if: LabelFixture.isPresent, LabelFixture.absent)
    )
    func decodesFixture() throws {
        let bytes = try LabelFixture.load()
        let area = try LabelArea.decode(bytes)
        #expect(area.version == .v1Dot1)
        #expect(area.geometry.indexSize == 256 && area.geometry.slotCount == 1020)

        let block0 = try area.blocks[0].get()
        let block1 = try area.blocks[1].get()
        for (number, block) in [(0, block0), (1, block1)] {
            #expect(block.slotCount == 1020)
            #expect(block.myOffset == UInt64(256 * number))
            #expect(block.otherOffset == UInt64(256 * (1 - number)))
            #expect(block.labelOffset == 512 && block.mySize == 256)
            #expect(block.major == 1 && block.minor == 1 && block.labelSizeCode == 0 && block.flags == 0)
            let stored = Array(bytes[(256 * number)..<(256 * number + 256)])
            #expect(block.encode() == stored, "re-encoding block \(number) must reproduce the kernel's bytes")
        }
        #expect(block0.sequence == 2)
        #expect(block1.sequence == 3)
        #expect(area.currentBlock == 1)
        #expect(area.nextBlock == 0)
        #expect(block0.usedSlots == [1, 2, 3])
        #expect(block1.usedSlots == [2, 3])

        let cookie: UInt64 = 10_248_187_106_440_278
        let expected = [
            NamespaceLabel(
                uuid: Self.second.uuid, name: "second", labelCount: 1, position: 0, interleaveSetCookie: cookie,
                logicalBlockSize: 512, dpa: 0x1000_0000, rawSize: 0x1000_0000, slot: 2
            ),
            NamespaceLabel(
                uuid: Self.third.uuid, name: "third", labelCount: 1, position: 0, interleaveSetCookie: cookie,
                logicalBlockSize: 512, dpa: 0x2000_0000, rawSize: 0x800_0000, slot: 3
            ),
        ]
        #expect(area.activeLabels == expected)
        for label in expected {
            let offset = area.geometry.offset(ofSlot: Int(label.slot))
            #expect(try label.encode(version: .v1Dot1) == Array(bytes[offset..<(offset + 128)]))
        }
        #expect(area.rejectedSlots.isEmpty)
        #expect(area.namespaces == [Self.second, Self.third])
        #expect(area.incompleteUUIDs.isEmpty)

        // Slot 0 still holds a stale UPDATING label; it is free in both blocks, so it is not active.
        let stale = try NamespaceLabel.parse(Array(bytes[512..<640]), version: .v1Dot1)
        #expect(stale.flags == .updating)
        #expect(stale.uuid.description == "0c80ee8c-0726-409d-95fd-ae4c4cf97fa0")
    }

    @Test(
        "initializes like ndctl init-labels: block 0 seq 3 current, block 1 seq 2, the same free bitmap as the fixture",
        .enabled(if: LabelFixture.isPresent, LabelFixture.absent)
    )
    func initializesLikeNdctl() throws {
        let fixture = try LabelFixture.load()
        let bytes = try LabelArea.initializedBytes(configSize: 128 * 1024, version: .v1Dot1)
        let area = try LabelArea.decode(bytes)
        #expect(area.currentBlock == 0)
        #expect(try area.blocks[0].get().sequence == 3)
        #expect(try area.blocks[1].get().sequence == 2)
        #expect(area.currentIndex.freeSlots.count == 1020)
        // ndctl sets ALIGN(1020, 64) / 8 = 128 bitmap bytes to 0xff, tail bits included; the kernel's
        // later updates only touched the first bitmap byte of the fixture.
        for block in 0..<2 {
            let base = 256 * block
            #expect(Array(bytes[(base + 73)..<(base + 256)]) == Array(fixture[(base + 73)..<(base + 256)]))
            #expect(Array(bytes[(base + 72)..<(base + 200)]) == [UInt8](repeating: 0xff, count: 128))
        }
        #expect(bytes[512...].allSatisfy { $0 == 0 })
        #expect(try LabelArea.initialized(configSize: 128 * 1024, version: .v1Dot1) == area)
    }

    @Test("probes 128-byte labels first and then 256-byte labels")
    func probesVersions() throws {
        let small = try LabelArea.decode(LabelArea.initializedBytes(configSize: 8192, version: .v1Dot1))
        let large = try LabelArea.decode(LabelArea.initializedBytes(configSize: 8192, version: .v1Dot2))
        #expect(small.version == .v1Dot1 && small.currentIndex.slotCount == 60)
        #expect(large.version == .v1Dot2 && large.currentIndex.slotCount == 30)
    }

    @Test("reports why each block is invalid when neither is")
    func noValidIndex() throws {
        #expect(
            throws: LabelError.noValidIndex(
                block0: .indexSignatureInvalid(block: 0), block1: .indexSignatureInvalid(block: 1))
        ) {
            try LabelArea.decode([UInt8](repeating: 0, count: 8192))
        }
        var bytes = try LabelArea.initializedBytes(configSize: 8192, version: .v1Dot2)
        bytes[100] ^= 1
        bytes[356] ^= 1
        do {
            _ = try LabelArea.decode(bytes)
            Issue.record("a doubly corrupted area must not decode")
        } catch {
            guard case .noValidIndex(.indexChecksumMismatch(0, _, _), .indexChecksumMismatch(1, _, _)) = error else {
                Issue.record("expected checksum failures from the v1.2 probe, got \(error)")
                return
            }
        }
        #expect(throws: LabelError.areaSizeInvalid(configSize: 100, labelSize: 128)) {
            try LabelArea.decode([UInt8](repeating: 0, count: 100))
        }
    }

    @Test("falls back to the other index block when a bit flips in the current one")
    func fallsBackOnCorruption() async throws {
        var store = try LabelStore(
            formatting: InMemoryLabelStorageFake(size: 8192), version: .v1Dot2, interleaveSetCookie: 1
        )
        try store.remove(uuid: LabelTestSupport.uuid(9))  // no-op: nothing written
        try store.put(LabelTestSupport.namespace(LabelTestSupport.uuid(1), extents: 2))
        try store.remove(uuid: LabelTestSupport.uuid(1))
        let bytes = store.storage.bytes
        let area = try LabelArea.decode(bytes)
        let current = area.currentBlock
        let other = try area.blocks[area.nextBlock].get()
        await propertyCheck(input: Gen.int(in: 0..<(256 * 8))) { bit throws in
            var flipped = bytes
            flipped[256 * current + bit / 8] ^= 1 << UInt8(bit % 8)
            let decoded = try LabelArea.decode(flipped)
            #expect(decoded.currentBlock == 1 - current)
            #expect(decoded.currentIndex == other)
            #expect((try? decoded.blocks[current].get()) == nil)
        }
    }

    @Test("a complete UPDATING set wins over a complete settled set of the same UUID")
    func updatingSetWins() throws {
        let uuid = LabelTestSupport.uuid(3)
        let labels = [
            NamespaceLabel(uuid: uuid, name: "old", dpa: 0, rawSize: 4096, slot: 0),
            NamespaceLabel(
                uuid: uuid, name: "new", flags: .updating, labelCount: 2, position: 1, dpa: 8192, rawSize: 4096, slot: 1
            ),
            NamespaceLabel(
                uuid: uuid, name: "new", flags: .updating, labelCount: 2, position: 0, dpa: 4096, rawSize: 4096, slot: 2
            ),
        ]
        let area = try LabelArea.decode(LabelTestSupport.area(with: labels, configSize: 8192, version: .v1Dot2))
        #expect(
            area.namespaces == [
                LabelledNamespace(
                    uuid: uuid, name: "new",
                    extents: [.init(dpa: 4096, rawSize: 4096), .init(dpa: 8192, rawSize: 4096)])
            ])
    }

    @Test("an incomplete UPDATING set is ignored in favour of the settled set")
    func incompleteUpdatingIgnored() throws {
        let uuid = LabelTestSupport.uuid(4)
        let labels = [
            NamespaceLabel(uuid: uuid, name: "old", dpa: 0, rawSize: 4096, slot: 0),
            NamespaceLabel(
                uuid: uuid, name: "new", flags: .updating, labelCount: 2, position: 1, dpa: 8192, rawSize: 4096, slot: 1
            ),
        ]
        let area = try LabelArea.decode(LabelTestSupport.area(with: labels, configSize: 8192, version: .v1Dot2))
        #expect(
            area.namespaces == [LabelledNamespace(uuid: uuid, name: "old", extents: [.init(dpa: 0, rawSize: 4096)])])
        #expect(area.incompleteUUIDs.isEmpty)
    }

    @Test("a UUID without a complete set of positions has no namespace and is reported")
    func incompleteSetsReported() throws {
        let missing = LabelTestSupport.uuid(5)
        let duplicate = LabelTestSupport.uuid(6)
        let mixed = LabelTestSupport.uuid(7)
        let labels = [
            NamespaceLabel(uuid: missing, labelCount: 2, position: 1, dpa: 0, rawSize: 4096, slot: 0),
            NamespaceLabel(uuid: duplicate, labelCount: 2, position: 0, dpa: 0, rawSize: 4096, slot: 1),
            NamespaceLabel(uuid: duplicate, labelCount: 2, position: 0, dpa: 4096, rawSize: 4096, slot: 2),
            NamespaceLabel(uuid: mixed, labelCount: 2, position: 0, dpa: 0, rawSize: 4096, slot: 3),
            NamespaceLabel(uuid: mixed, labelCount: 1, position: 1, dpa: 4096, rawSize: 4096, slot: 4),
        ]
        let area = try LabelArea.decode(LabelTestSupport.area(with: labels, configSize: 8192, version: .v1Dot2))
        #expect(area.namespaces.isEmpty)
        #expect(area.incompleteUUIDs == [missing, duplicate, mixed].sorted())
    }

    @Test("labels that fail slot_valid are rejected, not active")
    func rejectsInvalidSlots() throws {
        let uuid = LabelTestSupport.uuid(8)
        var bytes = try LabelTestSupport.area(
            with: [
                NamespaceLabel(uuid: uuid, labelCount: 2, position: 0, dpa: 0, rawSize: 4096, slot: 0),
                NamespaceLabel(uuid: uuid, labelCount: 2, position: 1, dpa: 4096, rawSize: 4096, slot: 1),
            ],
            configSize: 8192,
            version: .v1Dot2
        )
        bytes[512 + 256 + 20] ^= 0x40  // corrupt the name of slot 1
        let area = try LabelArea.decode(bytes)
        #expect(area.activeLabels.map(\.slot) == [0])
        #expect(area.rejectedSlots.map(\.slot) == [1])
        #expect(area.namespaces.isEmpty)
        #expect(area.incompleteUUIDs == [uuid])
    }
}
