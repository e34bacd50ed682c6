import DaxPoolCore
import Testing

/// Every size from outside follows `^(0x[0-9a-fA-F]+|[0-9]+)([kKmMgGtT])?$`.
@Suite("size grammar", .timeLimit(.minutes(20)))
struct SizeGrammarTests {
    static let refused = [
        "2MB", "2MiB", "2mb", "2B", "512KiB", " 2G", "2G ", "2 G", "\t2G", "2G\n", "+2G", "-2G", "+4096", "2.0G",
        "1e3", "0X200000", "0x", "x10", "0x-1", "2GG", "2Q", "G", "", "２G", "2\u{200B}G", "0x1g0",
    ]

    @Test(
        "sizes with spaces, signs, B or iB suffixes, or anything else outside the grammar are refused",
        arguments: refused)
    func refusedSize(text: String) {
        #expect(throws: SizeParseError.self) { try ByteCount(parsing: text) }
    }

    @Test("sizes past 64 bits are refused as overflow")
    func overflow() throws {
        for text in ["18446744073709551616", "0x10000000000000000", "16777216T", "17179869184G", "0xffffffffffffffffk"]
        {
            #expect(throws: SizeParseError.overflow(text)) { try ByteCount(parsing: text) }
        }
        #expect(try ByteCount(parsing: "18446744073709551615").rawValue == .max)
        #expect(try ByteCount(parsing: "16777215T").rawValue == 16_777_215 << 40)
        #expect(try ByteCount(parsing: "0x0000000000000000001").rawValue == 1)
    }

    @Test("the forms the README and the CLI use keep working")
    func validForms() throws {
        let cases: [(String, UInt64)] = [
            ("512M", 512 << 20), ("2G", 2 << 30), ("4k", 4096), ("1t", 1 << 40), ("0x200000", 2 << 20),
            ("0xABCdef", 0xAB_CDEF), ("0x2M", 2 << 20), ("0", 0), ("007", 7),
        ]
        for (text, bytes) in cases { #expect(try ByteCount(parsing: text).rawValue == bytes, "\(text)") }
    }

    @Test("a refusal quotes the text with what it hides escaped")
    func messageEscapes() {
        let error = SizeParseError.invalid("2\u{202E}G")
        #expect(error.description.contains("'2\\u{202e}G'"))
    }
}
