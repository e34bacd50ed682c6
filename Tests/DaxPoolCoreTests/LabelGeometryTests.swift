import DaxPoolCore
import PropertyBased
import Testing

@Suite("LabelAreaGeometry", .timeLimit(.minutes(20)))
struct LabelGeometryTests {
    @Test("a 128 KiB area holds 510 slots of 256 bytes after two 256-byte index blocks")
    func v1Dot2On128KiB() throws {
        let geometry = try LabelAreaGeometry(configSize: 128 * 1024, version: .v1Dot2)
        #expect(geometry.indexSize == 256)
        #expect(geometry.slotCount == 510)
        #expect(geometry.labelOffset == 512)
        #expect(geometry.offset(ofSlot: 2) == 1024)
        #expect(geometry.indexOffset(ofBlock: 1) == 256)
    }

    @Test("a 128 KiB area holds 1020 slots of 128 bytes")
    func v1Dot1On128KiB() throws {
        let geometry = try LabelAreaGeometry(configSize: 128 * 1024, version: .v1Dot1)
        #expect(geometry.indexSize == 256)
        #expect(geometry.slotCount == 1020)
        #expect(geometry.offset(ofSlot: 3) == 512 + 3 * 128)
    }

    @Test("1 KiB is the smallest area: two index blocks and two 256-byte labels")
    func minimum() throws {
        #expect(try LabelAreaGeometry(configSize: 1024, version: .v1Dot2).slotCount == 2)
        #expect(throws: LabelError.areaSizeInvalid(configSize: 1023, labelSize: 256)) {
            try LabelAreaGeometry(configSize: 1023, version: .v1Dot2)
        }
        #expect(throws: LabelError.self) { try LabelAreaGeometry(configSize: 0, version: .v1Dot1) }
        #expect(throws: LabelError.self) { try LabelAreaGeometry(configSize: -4096, version: .v1Dot1) }
    }

    @Test("the index size follows the final slot count, as the kernel's sizeof_namespace_index does")
    func indexSizeFromFinalSlotCount() throws {
        // tmp_nslot 1480 would need 512-byte index blocks; the final 1472 slots need only 256.
        let geometry = try LabelAreaGeometry(configSize: 1480 * 128, version: .v1Dot1)
        #expect(geometry.slotCount == 1472)
        #expect(geometry.indexSize == 256)
    }

    @Test("every valid layout fits its area and sizes its index for its slots")
    func layoutInvariants() async {
        await propertyCheck(input: Gen.int(in: 0...(1 << 21)), Gen.bool) { configSize, small in
            let version: LabelVersion = small ? .v1Dot1 : .v1Dot2
            guard let geometry = try? LabelAreaGeometry(configSize: configSize, version: version) else {
                #expect(configSize < 1024)
                return
            }
            #expect(geometry.slotCount >= 2)
            #expect(2 * geometry.indexSize + geometry.slotCount * version.labelSize <= configSize)
            #expect(geometry.indexSize % 256 == 0)
            #expect(geometry.indexSize == LabelAreaGeometry.indexSize(forSlotCount: geometry.slotCount))
            #expect(NamespaceIndex.headerSize + (geometry.slotCount + 7) / 8 <= geometry.indexSize)
        }
    }
}
