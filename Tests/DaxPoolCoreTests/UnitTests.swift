import DaxPoolCore
import DaxPoolTestSupport
import Testing

@Suite("units and names", .timeLimit(.minutes(20)))
struct UnitTests {
    static let sizes: [(String, UInt64)] = [
        ("4096", 4096), ("4k", 4096), ("4K", 4096), ("2M", 2 << 20), ("2m", 2 << 20), ("1G", 1 << 30),
        ("1T", 1 << 40), ("0x200000", 2 << 20), ("0x10M", 16 << 20),
    ]

    @Test("sizes parse with k/m/g/t suffixes, plain bytes and 0x hex", arguments: sizes)
    func sizeParsing(text: String, bytes: UInt64) throws {
        #expect(try ByteCount(parsing: text) == ByteCount(bytes))
    }

    @Test(
        "bad sizes give a clear error",
        arguments: ["", "abc", "-1", "1.5G", "12Q", "0x", "0xfffffffffffffffff", "99999999T", "G"])
    func badSizes(text: String) {
        #expect(throws: SizeParseError.self) { try ByteCount(parsing: text) }
    }

    @Test("alignments are 4K, 2M and 1G only")
    func alignments() throws {
        #expect(try Alignment(parsing: "2M") == .page2M)
        #expect(try Alignment(parsing: "4096") == .page4K)
        #expect(try Alignment(parsing: "0x40000000") == .page1G)
        #expect(throws: AlignmentError.self) { try Alignment(parsing: "8K") }
        #expect(throws: AlignmentError.self) { try Alignment(parsing: "4M") }
    }

    @Test("device names refuse slashes, NUL, dot-dot and more than 63 bytes")
    func names() throws {
        #expect(try DeviceName(validating: "vm-01").value == "vm-01")
        #expect(try DeviceName(validating: "gäst").value == "gäst")
        #expect(throws: NameError.self) { try DeviceName(validating: "a/b") }
        #expect(throws: NameError.self) { try DeviceName(validating: "..") }
        #expect(throws: NameError.self) { try DeviceName(validating: "a\u{0}b") }
        #expect(throws: NameError.self) { try DeviceName(validating: String(repeating: "x", count: 64)) }
        #expect(throws: NameError.self) { try DeviceName(validating: "") }
        #expect(try DeviceName(validating: String(repeating: "x", count: 63)).value.count == 63)
    }

    @Test("device ids parse as daxR.N, /dev/daxR.N and R.N")
    func deviceIDs() {
        #expect(DeviceID(parsing: "dax1.2") == DeviceID(region: 1, instance: 2))
        #expect(DeviceID(parsing: "/dev/dax0.0") == DeviceID(region: 0, instance: 0))
        #expect(DeviceID(parsing: "3.4") == DeviceID(region: 3, instance: 4))
        #expect(DeviceID(parsing: "dax1") == nil)
        #expect(DeviceID(parsing: "dax1.x") == nil)
        #expect(DeviceID(parsing: "dax-1.2") == nil)
    }

    @Test("human sizes read as daxctl prints them")
    func humanSizes() {
        #expect(ByteCount.gibibytes(1).humanDescription == "1.00 GiB (1.07 GB)")
        #expect(ByteCount(1_054_867_456).humanDescription == "1006.00 MiB (1054.87 MB)")
    }

    @Test("uuids round-trip through their text form")
    func uuids() throws {
        let text = "5b405e8d-700e-4499-9e09-1967d5637178"
        #expect(try #require(LabelUUID(text)).description == text)
        var generator = SplitMix64(state: 7)
        let random = LabelUUID.random(using: &generator)
        #expect(LabelUUID(random.description) == random)
        #expect(LabelUUID("not-a-uuid") == nil)
    }
}
