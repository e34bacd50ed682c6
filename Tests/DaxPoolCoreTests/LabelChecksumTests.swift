import DaxPoolCore
import PropertyBased
import Testing

@Suite("Fletcher64", .timeLimit(.minutes(20)))
struct LabelChecksumTests {
    /// Fletcher64 restated from its definition: lo = Σ words mod 2^32, hi = Σ lo_i mod 2^32.
    static func reference(_ bytes: [UInt8]) -> UInt64 {
        var lo: UInt64 = 0
        var hi: UInt64 = 0
        for start in stride(from: 0, to: bytes.count / 4 * 4, by: 4) {
            let word = (0..<4).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << (8 * $1) }
            lo = (lo + word) % (1 << 32)
            hi = (hi + lo) % (1 << 32)
        }
        return hi << 32 | lo
    }

    @Test("starts from zero, not Fletcher's usual one")
    func knownValues() {
        #expect(Fletcher64.checksum([]) == 0)
        #expect(Fletcher64.checksum([1, 0, 0, 0]) == 0x0000_0001_0000_0001)
        #expect(Fletcher64.checksum([1, 0, 0, 0, 2, 0, 0, 0]) == 0x0000_0004_0000_0003)
        #expect(Fletcher64.checksum([0x78, 0x56, 0x34, 0x12]) == 0x1234_5678_1234_5678)
    }

    @Test("lo32 wraps and the high bits of hi32 fall off")
    func wraps() {
        let bytes = [UInt8](repeating: 0xff, count: 8)
        #expect(Fletcher64.checksum(bytes) == 0xffff_fffd_ffff_fffe)
    }

    @Test("ignores trailing bytes that do not fill a word")
    func ignoresTail() {
        #expect(Fletcher64.checksum([1, 0, 0, 0, 9, 9, 9]) == Fletcher64.checksum([1, 0, 0, 0]))
    }

    @Test("zeroing the checksum field equals summing with zeros there")
    func zeroingField() {
        var bytes = (0..<72).map { UInt8($0) }
        let withField = Fletcher64.checksum(bytes, zeroingFieldAt: 64)
        bytes.replaceSubrange(64..<72, with: [UInt8](repeating: 0, count: 8))
        #expect(withField == Fletcher64.checksum(bytes))
    }

    @Test("matches the definition on random data")
    func matchesDefinition() async {
        await propertyCheck(input: Gen.uint8().array(of: 0...300)) { bytes in
            #expect(Fletcher64.checksum(bytes) == Self.reference(bytes))
        }
    }

    @Test(
        "reproduces the checksums the kernel wrote into the fixture's index blocks",
        .enabled(if: LabelFixture.isPresent, LabelFixture.absent)
    )
    func fixtureChecksums() throws {
        let bytes = try LabelFixture.load()
        let block0 = Array(bytes[0..<256])
        let block1 = Array(bytes[256..<512])
        #expect(Fletcher64.checksum(block0, zeroingFieldAt: 64) == 0xeb63_4362_d731_3dfb)
        #expect(Fletcher64.checksum(block1, zeroingFieldAt: 64) == 0xeb63_47f9_d731_3dfe)
        #expect(NamespaceIndex.storedChecksum(in: block0) == 0xeb63_4362_d731_3dfb)
        #expect(NamespaceIndex.storedChecksum(in: block1) == 0xeb63_47f9_d731_3dfe)
    }
}
