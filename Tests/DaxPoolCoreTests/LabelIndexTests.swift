import DaxPoolCore
import PropertyBased
import Testing

@Suite("NamespaceIndex", .timeLimit(.minutes(20)))
struct LabelIndexTests {
    static let geometry: LabelAreaGeometry = {
        do {
            return try LabelAreaGeometry(configSize: 16 * 1024, version: .v1Dot2)
        } catch {
            fatalError("16 KiB must be a valid v1.2 area: \(error)")
        }
    }()

    /// A valid block for `geometry`, with a random sequence (1...3) and random free bits.
    static let validIndex = Generator(run: { rng in
        var index = NamespaceIndex(
            initializedFor: geometry,
            block: Int(rng.next() % 2),
            sequence: UInt32(rng.next() % 3 + 1)
        )
        for slot in 0..<geometry.slotCount where rng.next() % 2 == 0 {
            index.setFree(false, slot: slot)
        }
        return index
    })

    static func decode(_ bytes: [UInt8], block: Int) throws(LabelError) -> NamespaceIndex {
        try NamespaceIndex.decode(bytes, block: block, geometry: geometry)
    }

    @Test("encodes to exactly index_size bytes whose checksum the decoder accepts")
    func encodesWholeBlock() throws {
        let index = NamespaceIndex(initializedFor: Self.geometry, block: 1, sequence: 2)
        let bytes = index.encode()
        #expect(bytes.count == Self.geometry.indexSize)
        #expect(Array(bytes[0..<16]) == Array("NAMESPACE_INDEX\0".utf8))
        #expect(NamespaceIndex.storedChecksum(in: bytes) == Fletcher64.checksum(bytes, zeroingFieldAt: 64))
        #expect(try Self.decode(bytes, block: 1) == index)
        #expect(index.myOffset == 256 && index.otherOffset == 0 && index.labelOffset == 512)
        #expect(index.mySize == 256 && index.major == 1 && index.minor == 2 && index.labelSizeCode == 1)
    }

    @Test("round-trips every field and bitmap byte through encode and parse")
    func roundTripsFields() async {
        let fields = zip(Gen.uint32(in: 0...0xff_ffff), Gen.uint8(), Gen.uint32(), Gen.uint64(), Gen.uint64())
        let more = zip(Gen.uint64(), Gen.uint64(), Gen.uint32(), Gen.uint16(), Gen.uint16())
        await propertyCheck(input: fields, more, Gen.uint8().array(of: 0...200)) { first, second, bitmap throws in
            let index = NamespaceIndex(
                flags: first.0, labelSizeCode: first.1, sequence: first.2, myOffset: first.3, mySize: first.4,
                otherOffset: second.0, labelOffset: second.1, slotCount: second.2, major: second.3, minor: second.4,
                freeBitmap: bitmap
            )
            #expect(try NamespaceIndex.parse(index.encode()) == index)
        }
    }

    @Test("round-trips valid blocks through encode and the validating decoder")
    func roundTripsValid() async {
        await propertyCheck(input: Self.validIndex) { index throws in
            let block = Int(index.myOffset) / Self.geometry.indexSize
            #expect(try Self.decode(index.encode(), block: block) == index)
        }
    }

    @Test("detects every single-bit flip in an index block")
    func detectsBitFlips() async {
        await propertyCheck(input: Self.validIndex, Gen.int(in: 0..<(256 * 8))) { index, bit in
            var bytes = index.encode()
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
            let block = Int(index.myOffset) / Self.geometry.indexSize
            #expect(throws: LabelError.self) { try Self.decode(bytes, block: block) }
        }
    }

    @Test("validates in the kernel's order with one error per check")
    func validationOrder() throws {
        let good = NamespaceIndex(initializedFor: Self.geometry, block: 0, sequence: 3)
        func failure(_ change: (inout NamespaceIndex) -> Void, block: Int = 0) -> LabelError? {
            var index = good
            change(&index)
            do {
                _ = try Self.decode(index.encode(), block: block)
                return nil
            } catch {
                return error
            }
        }
        var unsigned = good.encode()
        unsigned[0] = 0x6e
        #expect(throws: LabelError.indexSignatureInvalid(block: 0)) { try Self.decode(unsigned, block: 0) }
        #expect(failure { $0.minor = 1 } == .indexLabelSizeMismatch(block: 0, found: 128, expected: 256))
        #expect(failure { $0.labelSizeCode = 0 } == .indexLabelSizeMismatch(block: 0, found: 128, expected: 256))
        var corrupt = good.encode()
        corrupt[100] ^= 0x10
        let stored = NamespaceIndex.storedChecksum(in: corrupt)
        let computed = Fletcher64.checksum(corrupt, zeroingFieldAt: 64)
        #expect(throws: LabelError.indexChecksumMismatch(block: 0, stored: stored, computed: computed)) {
            try Self.decode(corrupt, block: 0)
        }
        #expect(failure { $0.sequence = 4 } == .indexSequenceInvalid(block: 0, sequence: 4))
        #expect(failure { $0.myOffset = 256 } == .indexOffsetMismatch(block: 0, found: 256, expected: 0))
        #expect(failure({ _ in }, block: 1) == .indexOffsetMismatch(block: 1, found: 0, expected: 256))
        #expect(failure { $0.otherOffset = 0 } == .indexOtherOffsetMismatch(block: 0, found: 0, expected: 256))
        #expect(failure { $0.labelOffset = 256 } == .indexLabelOffsetMismatch(block: 0, found: 256, expected: 512))
        #expect(failure { $0.mySize = 71 } == .indexSizeInvalid(block: 0, found: 71, minimum: 72, maximum: 256))
        #expect(failure { $0.mySize = 257 } == .indexSizeInvalid(block: 0, found: 257, minimum: 72, maximum: 256))
        #expect(failure { $0.mySize = 72 } == nil)
        #expect(failure { $0.slotCount = 63 } == .indexSlotCountInvalid(block: 0, slotCount: 63, configSize: 16384))
        #expect(failure { $0.slotCount = 40 } == nil)

        // With two faults, the earlier check reports.
        #expect(
            failure {
                $0.sequence = 0
                $0.myOffset = 1
            } == .indexSequenceInvalid(block: 0, sequence: 0))
        #expect(
            failure {
                $0.mySize = 0
                $0.slotCount = .max
            } == .indexSizeInvalid(block: 0, found: 0, minimum: 72, maximum: 256)
        )
        #expect(
            failure {
                $0.minor = 1
                $0.sequence = 0
            } == .indexLabelSizeMismatch(block: 0, found: 128, expected: 256))
    }

    @Test("sequence numbers cycle 1, 2, 3 and best_seq picks the newer of two")
    func sequences() {
        #expect(NamespaceIndex.nextSequence(after: 1) == 2)
        #expect(NamespaceIndex.nextSequence(after: 2) == 3)
        #expect(NamespaceIndex.nextSequence(after: 3) == 1)
        #expect(NamespaceIndex.nextSequence(after: 0) == 0)
        #expect(NamespaceIndex.nextSequence(after: 7) == 1)
        // Rows: block 0's sequence 0...3; columns: block 1's sequence 0...3.
        let best: [[UInt32]] = [[0, 1, 2, 3], [1, 1, 2, 1], [2, 2, 2, 3], [3, 1, 3, 3]]
        for first in 0..<4 {
            for second in 0..<4 {
                #expect(NamespaceIndex.bestSequence(UInt32(first), UInt32(second)) == best[first][second])
            }
        }
        let block0 = NamespaceIndex(initializedFor: Self.geometry, block: 0, sequence: 3)
        let block1 = NamespaceIndex(initializedFor: Self.geometry, block: 1, sequence: 2)
        #expect(NamespaceIndex.currentBlock(block0, block1) == 0)
        var newer = block1
        newer.sequence = 1
        #expect(NamespaceIndex.currentBlock(block0, newer) == 1)
    }

    @Test("an initialized block marks every slot free, with ndctl's tail bits set up to a multiple of 64")
    func initializedBitmap() {
        let index = NamespaceIndex(initializedFor: Self.geometry, block: 0, sequence: 3)
        #expect(Self.geometry.slotCount == 62)
        #expect(index.freeSlots == Array(0..<62))
        #expect(index.usedSlots.isEmpty)
        #expect(Array(index.freeBitmap[0..<8]) == [UInt8](repeating: 0xff, count: 8))
        #expect(index.freeBitmap[8...].allSatisfy { $0 == 0 })
        #expect(index.isFree(slot: 63))
        #expect(!index.isFree(slot: 64))
        var used = index
        used.setFree(false, slot: 9)
        #expect(used.freeBitmap[1] == 0xfd)
        #expect(used.usedSlots == [9])
    }
}
