import DaxPoolCore
import DaxPoolTestSupport
import PropertyBased
import Testing

@Suite("LabelUUID", .timeLimit(.minutes(20)))
struct LabelUUIDTests {
    @Test("parses either case and prints the canonical lowercase form")
    func parsesAndPrints() throws {
        let uuid = try #require(LabelUUID("5B405E8D-700E-4499-9E09-1967D5637178"))
        #expect(uuid.description == "5b405e8d-700e-4499-9e09-1967d5637178")
        #expect(uuid == LabelUUID(high: 0x5b40_5e8d_700e_4499, low: 0x9e09_1967_d563_7178))
        #expect(try LabelUUID.parse("00000000-0000-0000-0000-000000000000") == .zero)
    }

    @Test("rejects strings that are not 8-4-4-4-12 hexadecimal")
    func rejectsMalformed() {
        let bad = [
            "", "not-a-uuid", "5b405e8d700e44999e091967d5637178", "5b405e8d-700e-4499-9e09-1967d563717",
            "5b405e8d-700e-4499-9e09-1967d56371788", "5b405e8d-700e-4499-9e091-967d5637178",
            "5b405e8g-700e-4499-9e09-1967d5637178", "5b405e8d+700e-4499-9e09-1967d5637178",
        ]
        for text in bad {
            #expect(LabelUUID(text) == nil, "\(text)")
        }
        #expect(throws: LabelError.invalidUUIDString("nope")) { try LabelUUID.parse("nope") }
    }

    @Test("bytes are in RFC 4122 order, as a label's uuid field stores them")
    func bytesInTextOrder() throws {
        let uuid = try LabelUUID.parse("5b405e8d-700e-4499-9e09-1967d5637178")
        let expected: [UInt8] = [
            0x5b, 0x40, 0x5e, 0x8d, 0x70, 0x0e, 0x44, 0x99, 0x9e, 0x09, 0x19, 0x67, 0xd5, 0x63, 0x71, 0x78,
        ]
        #expect(uuid.bytes == expected)
        #expect(LabelUUID(bytes: expected) == uuid)
        #expect(LabelUUID(bytes: Array(expected.dropLast())) == nil)
    }

    @Test("GUIDs use the mixed-endian layout: DAX is stored as 9c 6d a8 97 dd 3c da 4e 98 6f ...")
    func mixedEndianGUID() throws {
        let stored: [UInt8] = [
            0x9c, 0x6d, 0xa8, 0x97, 0xdd, 0x3c, 0xda, 0x4e, 0x98, 0x6f, 0x50, 0x68, 0xb4, 0xf8, 0x00, 0x88,
        ]
        #expect(LabelUUID.daxAbstraction.description == "97a86d9c-3cdd-4eda-986f-5068b4f80088")
        #expect(LabelUUID.daxAbstraction.mixedEndianBytes == stored)
        #expect(LabelUUID(mixedEndianBytes: stored) == .daxAbstraction)
        #expect(LabelUUID.persistentMemoryRegionType.description == "66f0d379-b4f3-4074-ac43-0d3318b78cdb")
        #expect(LabelUUID.pfnAbstraction.description == "266400ba-fb9f-4677-bcb0-968f11d0d225")
        #expect(LabelUUID.bttAbstraction.description == "8aed63a2-29a2-4c66-8b12-f05d15d3922a")
        #expect(LabelUUID.btt2Abstraction.description == "18633bfc-1735-4217-8ac9-17239282d3f8")
    }

    @Test("round-trips through text, bytes and the mixed-endian layout")
    func roundTrips() async {
        await propertyCheck(input: Gen.uint64(), Gen.uint64()) { high, low in
            let uuid = LabelUUID(high: high, low: low)
            #expect(LabelUUID(uuid.description) == uuid)
            #expect(LabelUUID(bytes: uuid.bytes) == uuid)
            #expect(LabelUUID(mixedEndianBytes: uuid.mixedEndianBytes) == uuid)
        }
    }

    @Test("orders UUIDs as their canonical strings sort")
    func ordersLikeStrings() async {
        await propertyCheck(input: Gen.uint64(), Gen.uint64(), Gen.uint64()) { high, low, other in
            let first = LabelUUID(high: high, low: low)
            let second = LabelUUID(high: other, low: low)
            #expect((first < second) == (first.description < second.description))
        }
    }

    @Test("random UUIDs are version 4 with the RFC 4122 variant")
    func randomIsVersion4() async {
        await propertyCheck(input: Gen.uint64()) { seed in
            var generator = SplitMix64(seed: seed)
            let bytes = LabelUUID.random(using: &generator).bytes
            #expect(bytes[6] >> 4 == 4)
            #expect(bytes[8] >> 6 == 0b10)
        }
    }
}
