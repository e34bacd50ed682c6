import DaxPoolCore
import PropertyBased
import Testing

@Suite("NamespaceLabel", .timeLimit(.minutes(20)))
struct LabelCodecTests {
    static func label(version: LabelVersion) -> Generator<NamespaceLabel, Shrink.None<NamespaceLabel>> {
        Generator(run: { rng in
            var label = NamespaceLabel(
                uuid: LabelUUID(high: rng.next(), low: rng.next()),
                name: ["", "a", "second", "третий", "dax-0.1 🚀", String(repeating: "x", count: 63)][
                    Int(rng.next() % 6)],
                flags: NamespaceLabel.Flags(rawValue: UInt32(truncatingIfNeeded: rng.next())),
                labelCount: UInt16(truncatingIfNeeded: rng.next()),
                position: UInt16(truncatingIfNeeded: rng.next()),
                interleaveSetCookie: rng.next(),
                logicalBlockSize: rng.next(),
                dpa: rng.next() & ~0xfff,
                rawSize: rng.next() & ~0xfff,
                slot: UInt32(rng.next() % 1020)
            )
            if version == .v1Dot2 {
                label.alignment = UInt8(truncatingIfNeeded: rng.next())
                label.typeGUID = LabelUUID(high: rng.next(), low: rng.next())
                label.abstractionGUID = LabelUUID(high: rng.next(), low: rng.next())
            }
            return label
        })
    }

    static let sample = NamespaceLabel(
        uuid: LabelUUID(high: 0x5b40_5e8d_700e_4499, low: 0x9e09_1967_d563_7178),
        name: "second",
        flags: .updating,
        labelCount: 2,
        position: 1,
        interleaveSetCookie: 0x0024_68ac_0012_3456,
        logicalBlockSize: 512,
        dpa: 0x1000_0000,
        rawSize: 0x800_0000,
        slot: 7,
        alignment: 21,
        typeGUID: .persistentMemoryRegionType,
        abstractionGUID: .daxAbstraction
    )

    @Test("places every v1.2 field at its UEFI offset")
    func v1Dot2Layout() throws {
        let bytes = try Self.sample.encode(version: .v1Dot2)
        #expect(bytes.count == 256)
        #expect(Array(bytes[0..<16]) == Self.sample.uuid.bytes)
        #expect(Array(bytes[16..<23]) == Array("second\0".utf8))
        #expect(Array(bytes[80..<88]) == [8, 0, 0, 0, 2, 0, 1, 0])
        #expect(Array(bytes[88..<96]) == [0x56, 0x34, 0x12, 0x00, 0xac, 0x68, 0x24, 0x00])
        #expect(Array(bytes[96..<104]) == [0, 2, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[104..<112]) == [0, 0, 0, 0x10, 0, 0, 0, 0])
        #expect(Array(bytes[112..<120]) == [0, 0, 0, 0x08, 0, 0, 0, 0])
        #expect(Array(bytes[120..<128]) == [7, 0, 0, 0, 21, 0, 0, 0])
        #expect(
            Array(bytes[128..<144]) == [
                0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40, 0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
            ])
        #expect(Array(bytes[144..<160]) == LabelUUID.daxAbstraction.mixedEndianBytes)
        #expect(bytes[160..<248].allSatisfy { $0 == 0 })
        #expect(NamespaceLabel.storedChecksum(in: bytes) == Fletcher64.checksum(bytes, zeroingFieldAt: 248))
    }

    @Test("writes no align, GUID or checksum into a 128-byte v1.1 label")
    func v1Dot1Layout() throws {
        let bytes = try Self.sample.encode(version: .v1Dot1)
        #expect(bytes.count == 128)
        #expect(bytes[124..<128].allSatisfy { $0 == 0 })
        let decoded = try NamespaceLabel.decode(bytes, version: .v1Dot1, slot: 7)
        var expected = Self.sample
        expected.alignment = 0
        expected.typeGUID = .zero
        expected.abstractionGUID = .zero
        #expect(decoded == expected)
    }

    @Test("round-trips random v1.2 labels")
    func roundTripsV1Dot2() async {
        await propertyCheck(input: Self.label(version: .v1Dot2)) { label in
            let bytes = try label.encode(version: .v1Dot2)
            #expect(try NamespaceLabel.parse(bytes, version: .v1Dot2) == label)
            #expect(try NamespaceLabel.decode(bytes, version: .v1Dot2, slot: Int(label.slot)) == label)
        }
    }

    @Test("round-trips random v1.1 labels")
    func roundTripsV1Dot1() async {
        await propertyCheck(input: Self.label(version: .v1Dot1)) { label in
            let bytes = try label.encode(version: .v1Dot1)
            #expect(try NamespaceLabel.decode(bytes, version: .v1Dot1, slot: Int(label.slot)) == label)
        }
    }

    @Test("detects every single-bit flip in a v1.2 label")
    func detectsBitFlips() async {
        await propertyCheck(input: Self.label(version: .v1Dot2), Gen.int(in: 0..<(256 * 8))) { label, bit in
            var bytes = try label.encode(version: .v1Dot2)
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(throws: LabelError.self) {
                try NamespaceLabel.decode(bytes, version: .v1Dot2, slot: Int(label.slot))
            }
        }
    }

    @Test("slot_valid checks the slot, then 4 KiB alignment, then the checksum")
    func slotValid() throws {
        let bytes = try Self.sample.encode(version: .v1Dot2)
        #expect(throws: LabelError.labelSlotMismatch(slot: 8, found: 7)) {
            try NamespaceLabel.decode(bytes, version: .v1Dot2, slot: 8)
        }
        var misaligned = Self.sample
        misaligned.dpa += 512
        #expect(throws: LabelError.labelExtentMisaligned(slot: 7, dpa: 0x1000_0200, rawSize: 0x800_0000)) {
            try NamespaceLabel.decode(misaligned.encode(version: .v1Dot2), version: .v1Dot2, slot: 7)
        }
        #expect(throws: LabelError.labelSlotMismatch(slot: 6, found: 7)) {
            try NamespaceLabel.decode(misaligned.encode(version: .v1Dot2), version: .v1Dot2, slot: 6)
        }
        var corrupt = bytes
        corrupt[200] = 1
        #expect(
            throws: LabelError.labelChecksumMismatch(
                slot: 7, stored: NamespaceLabel.storedChecksum(in: bytes),
                computed: Fletcher64.checksum(corrupt, zeroingFieldAt: 248)
            )
        ) {
            try NamespaceLabel.decode(corrupt, version: .v1Dot2, slot: 7)
        }
        #expect(throws: LabelError.byteCountMismatch(expected: 256, found: 128)) {
            try NamespaceLabel.parse(Array(bytes[0..<128]), version: .v1Dot2)
        }
    }

    @Test("names take at most 63 UTF-8 bytes and no NUL")
    func nameLimits() throws {
        var label = Self.sample
        label.name = String(repeating: "é", count: 31) + "x"
        #expect(try NamespaceLabel.parse(label.encode(version: .v1Dot2), version: .v1Dot2).name == label.name)
        label.name = String(repeating: "é", count: 32)
        #expect(throws: LabelError.nameTooLong(name: label.name, byteCount: 64)) { try label.encode(version: .v1Dot2) }
        label.name = "a\0b"
        #expect(throws: LabelError.nameContainsNul(name: "a\0b")) { try label.encode(version: .v1Dot2) }
    }

    @Test("reads a name that fills all 64 bytes without a NUL")
    func unterminatedName() throws {
        var bytes = try Self.sample.encode(version: .v1Dot1)
        bytes.replaceSubrange(16..<80, with: [UInt8](repeating: UInt8(ascii: "z"), count: 64))
        #expect(try NamespaceLabel.parse(bytes, version: .v1Dot1).name == String(repeating: "z", count: 64))
    }
}
